from twisted.application.service import ServiceMaker

softswitch = ServiceMaker(
    "softswitch", "softswitch.tap", "SIP softswitch bridging calls to AI voice agents", "softswitch")
