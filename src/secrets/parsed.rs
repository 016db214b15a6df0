//! Parsed secret metadata and user records, remembered with the exact stored bytes they
//! were parsed from, so that a resolve parses again only what changed. It holds no value
//! (metadata and user records never carry one), and it decides nothing: a hit is the parse
//! of the very bytes just read from the store, so a rename, set-value, access change or
//! group change shows at the next read, like a fresh parse would.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::Result;
use crate::model::OrgId;

/// The most records kept; past it the cache starts again from empty.
const LIMIT: usize = 16_384;

/// `(org, field)` → the stored bytes last seen there and their parse.
pub(crate) struct ParseCache<T> {
    slots: Mutex<Slots<T>>,
}

/// The stored bytes last parsed at a field, and their parse.
type Seen<T> = (Vec<u8>, Arc<T>);

struct Slots<T> {
    by_org: HashMap<OrgId, HashMap<String, Seen<T>>>,
    len: usize,
}

impl<T> Default for ParseCache<T> {
    fn default() -> Self {
        ParseCache {
            slots: Mutex::new(Slots {
                by_org: HashMap::new(),
                len: 0,
            }),
        }
    }
}

impl<T> ParseCache<T> {
    /// The parse of `bytes`, stored at `field` of `org`: remembered when the bytes are the
    /// ones last parsed there, else `parse(bytes)` (remembered when it succeeds).
    ///
    /// # Errors
    /// `parse`'s error; a failed parse is not remembered.
    pub(crate) fn get_or_parse(
        &self,
        org: &OrgId,
        field: &str,
        bytes: &[u8],
        parse: impl FnOnce(&[u8]) -> Result<T>,
    ) -> Result<Arc<T>> {
        if let Some(hit) = self
            .lock()
            .by_org
            .get(org)
            .and_then(|fields| fields.get(field))
            .filter(|(seen, _)| seen.as_slice() == bytes)
            .map(|(_, parsed)| Arc::clone(parsed))
        {
            return Ok(hit);
        }
        let parsed = Arc::new(parse(bytes)?);
        let mut slots = self.lock();
        if slots.len >= LIMIT {
            slots.by_org.clear();
            slots.len = 0;
        }
        let fresh = slots
            .by_org
            .entry(org.clone())
            .or_default()
            .insert(field.to_owned(), (bytes.to_vec(), Arc::clone(&parsed)))
            .is_none();
        slots.len += usize::from(fresh);
        Ok(parsed)
    }

    /// Forgets what was parsed at `field` of `org` (it was deleted).
    pub(crate) fn forget(&self, org: &OrgId, field: &str) {
        let mut slots = self.lock();
        let removed = slots
            .by_org
            .get_mut(org)
            .and_then(|fields| fields.remove(field))
            .is_some();
        slots.len -= usize::from(removed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots<T>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn count_parses(cache: &ParseCache<String>, bytes: &[u8], parses: &mut usize) -> String {
        let org = OrgId::parse("acme").unwrap();
        let got = cache
            .get_or_parse(&org, "sec_1", bytes, |b| {
                *parses += 1;
                Ok(String::from_utf8(b.to_vec()).unwrap())
            })
            .unwrap();
        (*got).clone()
    }

    #[test]
    fn the_same_bytes_are_parsed_once_and_changed_bytes_again() {
        let cache = ParseCache::default();
        let mut parses = 0;
        assert_eq!(count_parses(&cache, b"v1", &mut parses), "v1");
        assert_eq!(count_parses(&cache, b"v1", &mut parses), "v1");
        assert_eq!(parses, 1);
        assert_eq!(count_parses(&cache, b"v2", &mut parses), "v2");
        assert_eq!(parses, 2);
        assert_eq!(count_parses(&cache, b"v1", &mut parses), "v1");
        assert_eq!(parses, 3);
    }

    #[test]
    fn a_failed_parse_is_not_remembered() {
        let cache: ParseCache<String> = ParseCache::default();
        let org = OrgId::parse("acme").unwrap();
        let failed = cache.get_or_parse(&org, "f", b"x", |_| Err(Error::internal("unreadable")));
        assert!(failed.is_err());
        let mut parses = 0;
        count_parses(&cache, b"x", &mut parses);
        assert_eq!(parses, 1);
    }

    #[test]
    fn the_same_field_of_another_org_is_another_slot() {
        let cache = ParseCache::default();
        let (a, b) = (OrgId::parse("a").unwrap(), OrgId::parse("b").unwrap());
        cache.get_or_parse(&a, "f", b"1", |_| Ok(1)).unwrap();
        let got = cache.get_or_parse(&b, "f", b"1", |_| Ok(2)).unwrap();
        assert_eq!(*got, 2);
        cache.forget(&a, "f");
        let got = cache.get_or_parse(&a, "f", b"1", |_| Ok(3)).unwrap();
        assert_eq!(*got, 3);
    }
}
