"""/v1/openapi.json: generated from the route table and the validating models."""

from twisted.internet import defer

from admin_harness import ApiTestCase
from softswitch.admin.api import all_routes


def resolve(document: dict, schema: dict) -> dict:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    return document["components"]["schemas"][ref.rsplit("/", 1)[-1]]


class OpenApiTests(ApiTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        super().setUp()
        response = yield self.get("/v1/openapi.json", token=None)
        self.document = response.json

    def test_every_route_is_described_once(self):
        described = {(method.upper(), path) for path, ops in self.document["paths"].items()
                     for method in ops}
        self.assertEqual(described, {(r.method, r.pattern) for r in all_routes()})
        ids = [op["operationId"] for ops in self.document["paths"].values()
               for op in ops.values()]
        self.assertEqual(len(ids), len(set(ids)))

    def test_header_and_security(self):
        self.assertEqual(self.document["openapi"], "3.1.0")
        self.assertEqual(self.document["components"]["securitySchemes"]["bearerAuth"],
                         {"type": "http", "scheme": "bearer"})
        self.assertEqual(self.document["security"], [{"bearerAuth": []}])
        self.assertEqual(self.document["paths"]["/v1/openapi.json"]["get"]["security"], [])

    def test_every_reference_resolves(self):
        schemas = self.document["components"]["schemas"]
        text = str(self.document)
        import re
        for name in re.findall(r"#/components/schemas/([\w.\-]+)", text):
            self.assertIn(name, schemas)

    def test_request_bodies_are_the_validating_models(self):
        trunk = self.document["paths"]["/v1/trunks"]["post"]
        schema = resolve(self.document,
                         trunk["requestBody"]["content"]["application/json"]["schema"])
        self.assertEqual(schema["additionalProperties"], False)
        self.assertIn("register", schema["properties"])
        self.assertEqual(schema["required"], ["name"])
        number = resolve(self.document, self.document["paths"]["/v1/numbers"]["post"]
                         ["requestBody"]["content"]["application/json"]["schema"])
        items = number["properties"]["route"]["items"]
        self.assertEqual(items["discriminator"]["propertyName"], "type")
        self.assertEqual(len(items["oneOf"]), 4)

    def test_write_only_fields_are_absent_from_responses(self):
        trunk_out = resolve(self.document, self.document["paths"]["/v1/trunks/{name}"]["get"]
                            ["responses"]["200"]["content"]["application/json"]["schema"])
        self.assertNotIn("password", str(trunk_out))
        agent_out = self.document["components"]["schemas"]["AgentOut"]
        self.assertNotIn("secret_headers", agent_out["properties"])
        self.assertNotIn("auth_token", agent_out["properties"])
        self.assertEqual(agent_out["properties"]["auth_token_set"]["type"], "boolean")

    def test_agents_twilio_credentials_and_voice_objects_are_described(self):
        create = resolve(self.document, self.document["paths"]["/v1/agents"]["post"]
                         ["requestBody"]["content"]["application/json"]["schema"])
        sid = create["properties"]["account_sid"]["anyOf"][0]
        self.assertEqual(sid["pattern"], "^AC[0-9a-fA-F]{32}$")
        token = create["properties"]["auth_token"]["anyOf"][0]
        self.assertEqual(token["pattern"], "^[!-~]{16,128}$")
        parameters = create["properties"]["custom_parameters"]
        self.assertEqual(parameters["additionalProperties"]["type"], "string")
        voice = parameters["properties"]["voice"]
        self.assertEqual([v["type"] for v in voice["anyOf"]], ["string", "object"])
        self.assertEqual(voice["anyOf"][1]["required"], ["id"])
        user_out = self.document["components"]["schemas"]["UserOut"]
        self.assertNotIn("password", user_out["properties"])

    def test_parameters_and_error_responses(self):
        get_number = self.document["paths"]["/v1/numbers/{number}"]["get"]
        self.assertEqual([p["name"] for p in get_number["parameters"]], ["number"])
        self.assertEqual(set(get_number["responses"]), {"200", "401", "404", "429", "422", "503"})
        listing = self.document["paths"]["/v1/cdrs"]["get"]
        self.assertEqual([p["name"] for p in listing["parameters"]],
                         ["limit", "after", "from", "to", "number"])
        self.assertTrue(all(p["in"] == "query" and not p["required"]
                            for p in listing["parameters"]))
        create = self.document["paths"]["/v1/trunks"]["post"]["responses"]
        self.assertTrue({"201", "400", "401", "409", "413", "422"} <= set(create))
        self.assertIn("Location", create["201"]["headers"])
        error = resolve(self.document, create["409"]["content"]["application/json"]["schema"])
        self.assertEqual(set(error["properties"]), {"error"})
        delete = self.document["paths"]["/v1/agents/{name}"]["delete"]["responses"]
        self.assertNotIn("content", delete["204"])
