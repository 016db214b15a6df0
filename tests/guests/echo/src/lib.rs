//! Test guest `echo`: returns its input and the names of its secret bindings; never
//! touches a secret's value, makes no call.

use hush_guest::{Ctx, Error};
use serde_json::{Value, json};

fn run(input: Value, ctx: &Ctx) -> Result<Value, Error> {
    Ok(json!({ "input": input, "bindings": ctx.bindings() }))
}

hush_guest::export!(run);
