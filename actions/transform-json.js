//! Example action `transform-json` in JavaScript: totals and reshapes line items; no
// secrets, no HTTP. Amounts are integer cents (BigInt, so no total can lose precision).
export default async function run(input, { log }) {
  const currency = input.currency ?? "usd";
  const taxRateBps = BigInt(input.tax_rate_bps ?? 0);
  if (!Array.isArray(input.items) || input.items.length === 0) throw new Error("`items` is empty");
  const lines = new Map();
  for (const item of input.items) {
    const line = lines.get(item.sku) ?? { sku: item.sku, name: item.name ?? "", quantity: 0n, total: 0n };
    line.quantity += BigInt(item.quantity);
    line.total += BigInt(item.unit_price_cents) * BigInt(item.quantity);
    lines.set(item.sku, line);
  }
  const sorted = [...lines.values()].sort((a, b) => (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0));
  const subtotal = sorted.reduce((sum, l) => sum + l.total, 0n);
  const tax = (subtotal * taxRateBps + 5000n) / 10000n;
  const total = subtotal + tax;
  const itemCount = sorted.reduce((sum, l) => sum + l.quantity, 0n);
  log.info(`${sorted.length} lines, ${itemCount} items, total ${total} ${currency}`);
  const n = (x) => {
    if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error("the totals overflow");
    return Number(x);
  };
  return {
    currency,
    lines: sorted.map((l) => ({ sku: l.sku, name: l.name, quantity: n(l.quantity), total_cents: n(l.total) })),
    item_count: n(itemCount),
    subtotal_cents: n(subtotal),
    tax_cents: n(tax),
    total_cents: n(total),
  };
}
