//! The guest components that build.rs compiles exist and are components (not core
//! modules): each file starts with the component-model preamble.

use hush::guests;

/// `\0asm`, then version 0x000d and layer 0x0001: the component-model preamble. A core
/// module has version 0x0001 and layer 0x0000 instead.
const COMPONENT_PREAMBLE: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

const ALL: &[(&str, &str)] = &[
    ("ECHO", guests::ECHO),
    ("HOSTILE", guests::HOSTILE),
    ("FOREIGN_IMPORT", guests::FOREIGN_IMPORT),
    ("CALL_API", guests::CALL_API),
    ("TRANSFORM_JSON", guests::TRANSFORM_JSON),
    ("HMAC_SIGN", guests::HMAC_SIGN),
    ("JS_RUNNER", guests::JS_RUNNER),
];

#[test]
fn every_guest_is_built_as_a_component() {
    for (name, path) in ALL {
        let bytes =
            std::fs::read(path).unwrap_or_else(|e| panic!("{name}: cannot read {path}: {e}"));
        assert!(
            bytes.starts_with(&COMPONENT_PREAMBLE),
            "{name} ({path}) does not start with the component preamble: {:02x?}",
            &bytes[..bytes.len().min(8)]
        );
    }
}

#[test]
fn guest_paths_are_absolute_and_distinct() {
    let mut seen = std::collections::BTreeSet::new();
    for (name, path) in ALL {
        assert!(
            std::path::Path::new(path).is_absolute(),
            "{name}: {path} is not absolute"
        );
        assert!(seen.insert(*path), "{name}: {path} is used twice");
    }
}
