"""The OpenAPI description of the administration endpoints in :mod:`.admin_objects`."""

from __future__ import annotations

from .openapi import document

# -- the description ------------------------------------------------------------------------

_S, _I, _B = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
_NS, _NI = {"type": ["string", "null"]}, {"type": ["integer", "null"]}
_DAY = {"type": "string", "format": "date"}
_NDAY = {"type": ["string", "null"], "format": "date"}
_MONEY = {"type": "string", "pattern": r"^[0-9]+\.[0-9]{2}$"}
_NMONEY = {"type": ["string", "null"]}
_ARR_S = {"type": "array", "items": _S}


def _obj(props: dict, required=None) -> dict:
    return {"type": "object", "properties": props,
            "required": list(props) if required is None else required}


SCHEMAS = {
    "AdminClient": _obj({"id": _I, "name": _S, "tax_id": _NS, "country": _S, "timezone": _S,
                         "language": _S, "domains": _ARR_S, "account_manager_id": _NI,
                         "warranty_until": _NDAY, "notes": _NS, "archived": _B}),
    "AdminContact": _obj({"id": _I, "client_id": _I, "name": _S, "language": _NS,
                          "is_primary": _B, "active": _B, "emails": _ARR_S, "phones": _ARR_S}),
    "AdminContract": _obj({
        "id": _I, "client_id": _I, "package": _S, "status": _S, "start_date": _DAY,
        "end_date": _NDAY, "auto_renew": _B, "monthly_fee": _NMONEY,
        "addons": {"type": "array", "items": _obj({"code": _S, "start_date": _DAY,
                                                   "end_date": _NDAY})},
        "changes": {"type": "array", "items": _obj({"effective_date": _DAY, "kind": _S,
                                                    "package": _S})}}),
    "AdminPackage": _obj({"id": _I, "code": _S, "name": _S, "rank": _I, "active": _B,
                          "included_minutes": _I, "monthly_fee": _MONEY,
                          "overage_rate": _MONEY, "visits_per_year": _I,
                          "first_response_minutes": _NI, "resolution_minutes": _NI,
                          "sla_targets": {"type": "array", "items": _obj({
                              "priority": _S, "first_response_minutes": _I,
                              "resolution_minutes": _I, "own": _B, "since": _NDAY})}}),
    "AdminAddon": _obj({"id": _I, "code": _S, "name": _S, "active": _B, "monthly_fee": _MONEY,
                        "prices": {"type": "array", "items": _obj({"effective_from": _DAY,
                                                                   "monthly_fee": _MONEY})}}),
    "AdminStaff": _obj({"id": _I, "email": _S, "name": _S, "role": _S, "language": _NS,
                        "extension": _NS, "logmein_email": _NS, "active": _B}),
}
_ERR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _responses(ok: str, schema: str, code: str = "200", many: bool = False, body: bool = False):
    ref = {"$ref": f"#/components/schemas/{schema}"}
    if many:
        ref = _obj({"items": {"type": "array", "items": ref}})
    out = {code: {"description": ok, "content": {"application/json": {"schema": ref}}},
           "401": {"description": "No or a bad bearer token.", **_ERR},
           "403": {"description": "Not an admin (or account manager where allowed).", **_ERR},
           "404": {"description": "No such object, or not one you may see.", **_ERR}}
    if body:
        out["400"] = {"description": "The body is not a JSON object.", **_ERR}
        out["422"] = {"description": "Invalid input; nothing was saved.", **_ERR}
    return out


def _path(name: str) -> list:
    return [{"name": name, "in": "path", "required": True, "schema": _I}]


def _body_of(props: dict, required: list[str]) -> dict:
    return {"required": True, "content": {"application/json": {"schema": _obj(props, required)}}}


_CLIENT_IN = {"name": _S, "domains": _ARR_S, "country": _S, "timezone": _S, "language": _S,
              "account_manager_id": _NI, "tax_id": _NS, "warranty_until": _NDAY, "notes": _NS}
_CONTACT_IN = {"name": _S, "emails": _ARR_S, "phones": _ARR_S, "language": _NS,
               "is_primary": _B}
#: A new contact needs an email address or a phone number (an empty object is refused).
_NEW_CONTACT = _body_of(_CONTACT_IN, [])
_NEW_CONTACT["content"]["application/json"]["schema"]["anyOf"] = [
    {"required": [field], "properties": {field: {"minItems": 1}}}
    for field in ("emails", "phones")]
_STAFF_IN = {"email": _S, "role": {"type": "string", "enum": ["agent", "account_manager",
                                                               "admin"]},
             "name": _S, "language": _NS, "extension": _NS, "logmein_email": _NS}
_PAGE = [{"name": "after", "in": "query", "required": False, "schema": _I,
          "description": "The last id of the previous page."}]

document("/clients", {
    "get": {"operationId": "adminListClients", "summary": "Clients (account managers: own)",
            "parameters": _PAGE + [{"name": "q", "in": "query", "required": False,
                                    "schema": _S}],
            "responses": _responses("Up to 200 clients by id.", "AdminClient", many=True)},
    "post": {"operationId": "adminCreateClient", "summary": "Create a client (admins)",
             "requestBody": _body_of(_CLIENT_IN, ["name"]),
             "responses": _responses("The client.", "AdminClient", "201", body=True)},
}, SCHEMAS)
document("/clients/{client_id}", {
    "get": {"operationId": "adminGetClient", "summary": "A client", "parameters": _path(
        "client_id"), "responses": _responses("The client.", "AdminClient")},
    "patch": {"operationId": "adminUpdateClient",
              "summary": "Change a client (admins); archived: true archives (confirm: true "
                         "when it has open tickets)", "parameters": _path("client_id"),
              "requestBody": _body_of({**_CLIENT_IN, "archived": _B, "confirm": _B}, []),
              "responses": _responses("The client.", "AdminClient", body=True)},
})
document("/clients/{client_id}/contacts", {
    "get": {"operationId": "adminListContacts", "summary": "A client's contacts",
            "parameters": _path("client_id"),
            "responses": _responses("The contacts.", "AdminContact", many=True)},
    "post": {"operationId": "adminCreateContact", "summary": "Add a contact",
             "parameters": _path("client_id"), "requestBody": _NEW_CONTACT,
             "responses": _responses("The contact.", "AdminContact", "201", body=True)},
})
document("/contacts/{contact_id}", {
    "patch": {"operationId": "adminUpdateContact",
              "summary": "Change a contact; active: false deactivates it",
              "parameters": _path("contact_id"),
              "requestBody": _body_of({**_CONTACT_IN, "active": _B}, []),
              "responses": _responses("The contact.", "AdminContact", body=True)},
})
document("/clients/{client_id}/contracts", {
    "get": {"operationId": "adminListContracts", "summary": "A client's contract history",
            "parameters": _path("client_id"),
            "responses": _responses("The contracts.", "AdminContract", many=True)},
    "post": {"operationId": "adminCreateContract",
             "summary": "Sign a contract (refused when it overlaps another)",
             "parameters": _path("client_id"),
             "requestBody": _body_of({"package": _S, "start": _DAY, "term_months": _I,
                                      "auto_renew": _B, "trial": _B, "monthly_fee": _NMONEY},
                                     ["package"]),
             "responses": _responses("The contract.", "AdminContract", "201", body=True)},
})
document("/contracts/{contract_id}", {
    "get": {"operationId": "adminGetContract", "summary": "A contract",
            "parameters": _path("contract_id"),
            "responses": _responses("The contract.", "AdminContract")},
})
document("/contracts/{contract_id}/package", {
    "post": {"operationId": "adminChangePackage",
             "summary": "Upgrade (prorated from 'on') or downgrade (from next month)",
             "parameters": _path("contract_id"),
             "requestBody": _body_of({"package": _S, "on": _NDAY}, ["package"]),
             "responses": _responses("The contract.", "AdminContract", body=True)},
})
document("/contracts/{contract_id}/end", {
    "post": {"operationId": "adminEndContract", "summary": "End a contract on its last day",
             "parameters": _path("contract_id"),
             "requestBody": _body_of({"end": _DAY}, ["end"]),
             "responses": _responses("The contract.", "AdminContract", body=True)},
})
document("/packages", {
    "get": {"operationId": "adminListPackages", "summary": "The price list in force today",
            "responses": _responses("The packages.", "AdminPackage", many=True)},
})
document("/packages/{package_id}", {
    "get": {"operationId": "adminGetPackage", "summary": "A package",
            "parameters": _path("package_id"),
            "responses": _responses("The package.", "AdminPackage")},
    "patch": {"operationId": "adminUpdatePackage",
              "summary": "Name, order, sold, SLA targets (admins)",
              "parameters": _path("package_id"),
              "requestBody": _body_of({"name": _S, "rank": _I, "active": _B,
                                       "first_response_minutes": _I,
                                       "resolution_minutes": _I}, []),
              "responses": _responses("The package.", "AdminPackage", body=True)},
})
document("/packages/{package_id}/prices", {
    "post": {"operationId": "adminChangePrice",
             "summary": "New prices from the first day of a month that is not closed (admins)",
             "parameters": _path("package_id"),
             "requestBody": _body_of({"effective_from": _DAY, "included_minutes": _I,
                                      "monthly_fee": _S, "overage_rate": _S,
                                      "visits_per_year": _I},
                                     ["effective_from", "included_minutes", "monthly_fee",
                                      "overage_rate", "visits_per_year"]),
             "responses": _responses("The package with today's prices.", "AdminPackage", "201",
                                     body=True)},
})
document("/packages/{package_id}/sla_targets", {
    "post": {"operationId": "adminSetSlaTargets",
             "summary": "Own SLA targets of one priority for tickets opened from a day (admins)",
             "parameters": _path("package_id"),
             "requestBody": _body_of({"priority": {"enum": ["low", "normal", "high", "urgent"]},
                                      "effective_from": _DAY, "first_response_minutes": _I,
                                      "resolution_minutes": _I},
                                     ["priority", "first_response_minutes",
                                      "resolution_minutes"]),
             "responses": _responses("The package with today's targets.", "AdminPackage", "201",
                                     body=True)},
})
document("/addons", {
    "get": {"operationId": "adminListAddons", "summary": "The add-ons at today's fees",
            "responses": _responses("The add-ons.", "AdminAddon", many=True)},
})
document("/addons/{addon_id}", {
    "get": {"operationId": "adminGetAddon", "summary": "An add-on with its price changes",
            "parameters": _path("addon_id"),
            "responses": _responses("The add-on.", "AdminAddon")},
})
document("/addons/{addon_id}/prices", {
    "post": {"operationId": "adminChangeAddonPrice",
             "summary": "A new fee from the first day of a month that is not closed (admins)",
             "parameters": _path("addon_id"),
             "requestBody": _body_of({"effective_from": _DAY, "monthly_fee": _S},
                                     ["effective_from", "monthly_fee"]),
             "responses": _responses("The add-on with today's fee.", "AdminAddon", "201",
                                     body=True)},
})
document("/staff", {
    "get": {"operationId": "adminListStaff", "summary": "Staff (admins)", "parameters": _PAGE,
            "responses": _responses("Up to 200 people by id.", "AdminStaff", many=True)},
    "post": {"operationId": "adminCreateStaff", "summary": "Create a staff account (admins)",
             "requestBody": _body_of(_STAFF_IN, ["email", "role"]),
             "responses": _responses("The person.", "AdminStaff", "201", body=True)},
})
document("/staff/{user_id}", {
    "get": {"operationId": "adminGetStaff", "summary": "A staff member (admins)",
            "parameters": _path("user_id"), "responses": _responses("The person.", "AdminStaff")},
    "patch": {"operationId": "adminUpdateStaff",
              "summary": "Change a staff member; active: false deactivates (admins)",
              "parameters": _path("user_id"),
              "requestBody": _body_of({**{k: v for k, v in _STAFF_IN.items()}, "active": _B}, []),
              "responses": _responses("The person.", "AdminStaff", body=True)},
})
