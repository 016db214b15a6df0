//! Example action `transform-json`: totals an order's line items and reshapes them per
//! SKU; pure computation, no secrets and no HTTP.

use std::collections::BTreeMap;

use hush_guest::{Ctx, Error};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Input {
    #[serde(default = "default_currency")]
    currency: String,
    /// Tax in basis points (1/100 of a percent) applied to the subtotal.
    #[serde(default)]
    tax_rate_bps: u32,
    items: Vec<Item>,
}

fn default_currency() -> String {
    "usd".into()
}

#[derive(Deserialize)]
struct Item {
    sku: String,
    #[serde(default)]
    name: String,
    quantity: u32,
    unit_price_cents: u64,
}

#[derive(Serialize)]
struct Output {
    currency: String,
    lines: Vec<Line>,
    item_count: u64,
    subtotal_cents: u64,
    tax_cents: u64,
    total_cents: u64,
}

/// One line per SKU: equal SKUs are merged.
#[derive(Serialize)]
struct Line {
    sku: String,
    name: String,
    quantity: u64,
    total_cents: u64,
}

fn run(input: Input, ctx: &Ctx) -> Result<Output, Error> {
    if input.items.is_empty() {
        return Err(Error::bad_input("`items` is empty"));
    }
    let overflow = || Error::bad_input("the totals overflow");
    let mut lines: BTreeMap<String, Line> = BTreeMap::new();
    for item in input.items {
        let cost = item
            .unit_price_cents
            .checked_mul(u64::from(item.quantity))
            .ok_or_else(overflow)?;
        let line = lines.entry(item.sku.clone()).or_insert_with(|| Line {
            sku: item.sku,
            name: item.name,
            quantity: 0,
            total_cents: 0,
        });
        line.quantity += u64::from(item.quantity);
        line.total_cents = line.total_cents.checked_add(cost).ok_or_else(overflow)?;
    }
    let lines: Vec<Line> = lines.into_values().collect();
    let subtotal = lines
        .iter()
        .try_fold(0u64, |sum, l| sum.checked_add(l.total_cents))
        .ok_or_else(overflow)?;
    // Round half up, in integer cents.
    let tax =
        u64::try_from((u128::from(subtotal) * u128::from(input.tax_rate_bps) + 5_000) / 10_000)
            .map_err(|_| overflow())?;
    let total = subtotal.checked_add(tax).ok_or_else(overflow)?;
    let item_count = lines.iter().map(|l| l.quantity).sum();
    ctx.log().info(&format!(
        "{} lines, {item_count} items, total {total} {}",
        lines.len(),
        input.currency
    ));
    Ok(Output {
        currency: input.currency,
        lines,
        item_count,
        subtotal_cents: subtotal,
        tax_cents: tax,
        total_cents: total,
    })
}

hush_guest::export!(run);
