"""schemathesis hooks for scripts/schemathesis: the one rule of the secrets API that JSON
Schema cannot state. A secret's `grants` name each user or group at most once (the server
answers 400 "… is granted more than once"), but JSON Schema's `uniqueItems` compares
whole items, so `{user a: use}` and `{user a: manage}` pass it. Cases that are meant to be
valid and break only that rule are not sent; cases meant to be invalid are sent as made.
"""

import json

import schemathesis


@schemathesis.hook
def filter_case(context, case):
    body = case.body
    if not isinstance(body, dict) or not isinstance(body.get("grants"), list):
        return True
    seen = set()
    for grant in body["grants"]:
        try:
            # Negative cases may put any JSON here: compare a canonical text of it.
            key = json.dumps(
                [grant["principal"]["kind"], grant["principal"]["id"]], sort_keys=True
            )
        except (TypeError, KeyError):
            return True
        if key in seen:
            meta = case.meta
            return meta is not None and not meta.generation.mode.is_positive
        seen.add(key)
    return True
