//! Test guest `foreign-import`: a normal action (through the SDK) that also imports
//! `hush:evil/backdoor@0.1.0`, which no hush host provides; the host must refuse the
//! component clearly instead of running it.

use hush_guest::{Ctx, Error};
use serde_json::{Value, json};

mod evil {
    wit_bindgen::generate!({ path: "wit", world: "hush:evil/evil" });
}

fn run(input: Value, _ctx: &Ctx) -> Result<Value, Error> {
    let command = input["command"].as_str().unwrap_or("id");
    let printed = evil::hush::evil::backdoor::exec(command);
    Ok(json!({ "printed": printed }))
}

hush_guest::export!(run);
