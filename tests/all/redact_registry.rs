//! The process-wide registry: held values are redacted, stay redacted through the grace
//! period after the last lease drops, leave after it, and never show in `Debug`.

use std::sync::Arc;
use std::thread::sleep;
use std::time::Duration;

use hush::redact::{RedactorCache, Registry, global};

const VALUE: &str = "registry-secret-value-42";

#[test]
fn a_held_value_is_redacted() {
    let reg = Registry::with_grace(Duration::from_secs(60));
    let _lease = reg.hold("db-password", VALUE.as_bytes());
    let out = reg
        .redactor()
        .redact_str(&format!("connect pw={VALUE}"))
        .into_owned();
    assert_eq!(out, "connect pw=[REDACTED:db-password]");
}

#[test]
fn after_lease_drop_the_value_stays_redacted_during_grace() {
    let reg = Registry::with_grace(Duration::from_secs(60));
    let lease = reg.hold("k", VALUE.as_bytes());
    drop(lease);
    assert_eq!(reg.len(), 1);
    assert!(reg.redactor().is_match(VALUE.as_bytes()));
}

#[test]
fn after_grace_the_value_is_dropped() {
    let reg = Registry::with_grace(Duration::from_millis(20));
    let lease = reg.hold("k", VALUE.as_bytes());
    assert!(reg.redactor().is_match(VALUE.as_bytes()));
    drop(lease);
    sleep(Duration::from_millis(40));
    assert!(!reg.redactor().is_match(VALUE.as_bytes()));
    assert!(reg.is_empty());
}

#[test]
fn a_value_with_any_live_lease_never_expires() {
    let reg = Registry::with_grace(Duration::from_millis(10));
    let a = reg.hold("k", VALUE.as_bytes());
    let b = reg.hold("k", VALUE.as_bytes());
    assert_eq!(reg.len(), 1, "same name and value share one entry");
    drop(a);
    sleep(Duration::from_millis(30));
    assert!(reg.redactor().is_match(VALUE.as_bytes()));
    drop(b);
    sleep(Duration::from_millis(30));
    assert!(!reg.redactor().is_match(VALUE.as_bytes()));
}

#[test]
fn re_holding_during_grace_keeps_the_value() {
    let reg = Registry::with_grace(Duration::from_millis(30));
    drop(reg.hold("k", VALUE.as_bytes()));
    let _again = reg.hold("k", VALUE.as_bytes());
    sleep(Duration::from_millis(60));
    assert!(reg.redactor().is_match(VALUE.as_bytes()));
}

#[test]
fn the_redactor_is_cached_until_the_set_changes() {
    let reg = Registry::with_grace(Duration::from_secs(60));
    let _a = reg.hold("a", b"first-value-1234");
    let r1 = reg.redactor();
    let r2 = reg.redactor();
    assert!(Arc::ptr_eq(&r1, &r2));
    let _b = reg.hold("b", b"second-value-5678");
    let r3 = reg.redactor();
    assert!(!Arc::ptr_eq(&r1, &r3));
    assert!(r3.is_match(b"first-value-1234") && r3.is_match(b"second-value-5678"));
}

#[test]
fn lease_and_registry_debug_print_no_value() {
    let reg = Registry::with_grace(Duration::from_secs(60));
    let lease = reg.hold("api-key", VALUE.as_bytes());
    let shown = format!("{lease:?} {lease:#?} {reg:?} {:?}", reg.redactor());
    assert!(!shown.contains(VALUE), "{shown}");
    assert!(shown.contains("api-key"), "{shown}");
}

#[test]
fn leases_move_across_threads() {
    let lease = global().hold("thread-secret", b"thread-moved-value-99");
    std::thread::spawn(move || drop(lease)).join().unwrap();
    assert!(global().redactor().is_match(b"thread-moved-value-99"));
}

#[test]
fn cache_returns_the_same_redactor_for_the_same_key_and_stays_bounded() {
    let cache: RedactorCache<Vec<(String, u64)>> = RedactorCache::with_capacity(2);
    let key = |v: u64| vec![("sec_1".to_string(), v)];
    let mut builds = 0;
    let a = cache.get_or_build(key(1), || {
        builds += 1;
        [("one", "cached-secret-one")]
    });
    let b = cache.get_or_build(key(1), || {
        builds += 1;
        [("one", "cached-secret-one")]
    });
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(builds, 1);
    cache.get_or_build(key(2), || [("two", "cached-secret-two")]);
    cache.get_or_build(key(3), || [("three", "cached-secret-three")]);
    assert_eq!(cache.len(), 2);
    assert!(
        cache.get(&key(1)).is_none(),
        "least recently used entry evicted"
    );
}

#[test]
fn a_cached_redactor_unused_past_the_idle_limit_is_dropped() {
    let cache: RedactorCache<u64> =
        RedactorCache::with_limits(8, std::time::Duration::from_millis(30));
    let first = cache.get_or_build(1, || [("one", "idle-secret-one")]);
    assert!(
        Arc::ptr_eq(&first, &cache.get(&1).unwrap()),
        "kept while in use"
    );
    std::thread::sleep(std::time::Duration::from_millis(60));
    assert!(
        cache.get(&1).is_none(),
        "its values do not outlive the idle limit"
    );
    assert!(cache.is_empty());
}

#[test]
fn holding_a_value_again_among_many_shares_its_entry() {
    let registry = Registry::with_grace(std::time::Duration::from_millis(20));
    let leases: Vec<_> = (0..500)
        .map(|i| {
            registry.hold(
                &format!("s{i}"),
                format!("many-held-value-{i:04}").as_bytes(),
            )
        })
        .collect();
    assert_eq!(registry.len(), 500);
    let again = registry.hold("s250", b"many-held-value-0250");
    assert_eq!(
        registry.len(),
        500,
        "the same name and value share one entry"
    );
    drop(leases);
    std::thread::sleep(std::time::Duration::from_millis(40));
    let _other = registry.hold("fresh", b"a-fresh-held-value");
    assert_eq!(
        registry.len(),
        2,
        "expired entries leave; the one still leased stays"
    );
    assert!(
        registry
            .redactor()
            .redact_str("x many-held-value-0250 y")
            .contains("[REDACTED:s250]")
    );
    drop(again);
}
