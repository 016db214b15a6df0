//! [`RedactorCache`]: built redactors kept by a caller-chosen key (e.g. the set of
//! `(secret id, version)` a run uses), so repeated runs skip the build. It never builds
//! while holding its lock, and never keeps more than its capacity.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::engine::Redactor;
use super::registry::DEFAULT_GRACE;

/// How many redactors a cache keeps by default.
pub const DEFAULT_CAPACITY: usize = 64;

/// A bounded, least-recently-used map from a key to a built [`Redactor`].
///
/// The key must change whenever a value changes (include the secret version): the cache
/// cannot see the values behind a hit. A cached redactor keeps its values in memory, so an
/// entry unused for longer than the idle limit (by default the registry's grace period,
/// which keeps values that long anyway) is dropped at the next access.
pub struct RedactorCache<K> {
    capacity: usize,
    idle: Duration,
    state: Mutex<CacheState<K>>,
}

struct CacheState<K> {
    entries: HashMap<K, (Arc<Redactor>, Instant)>,
}

impl<K: Eq + Hash> CacheState<K> {
    /// Drops every entry unused for longer than `idle`.
    fn expire(&mut self, now: Instant, idle: Duration) {
        self.entries
            .retain(|_, (_, used)| now.saturating_duration_since(*used) <= idle);
    }
}

impl<K: Eq + Hash + Clone> RedactorCache<K> {
    /// A cache holding up to [`DEFAULT_CAPACITY`] redactors.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// A cache holding up to `capacity` redactors (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        Self::with_limits(capacity, DEFAULT_GRACE)
    }

    /// A cache holding up to `capacity` redactors, each for at most `idle` after its last use.
    pub fn with_limits(capacity: usize, idle: Duration) -> Self {
        RedactorCache {
            capacity: capacity.max(1),
            idle,
            state: Mutex::new(CacheState {
                entries: HashMap::new(),
            }),
        }
    }

    /// The redactor cached under `key`, or one built from `secrets()` and cached.
    ///
    /// # Panics
    ///
    /// As [`Redactor::new`].
    pub fn get_or_build<F, I, N, V>(&self, key: K, secrets: F) -> Arc<Redactor>
    where
        F: FnOnce() -> I,
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<[u8]>,
    {
        if let Some(r) = self.get(&key) {
            return r;
        }
        let built = Arc::new(Redactor::new(secrets()));
        let now = Instant::now();
        let mut state = self.lock();
        state.expire(now, self.idle);
        if let Some((existing, used)) = state.entries.get_mut(&key) {
            // Another thread built the same set meanwhile; keep one.
            *used = now;
            return Arc::clone(existing);
        }
        if state.entries.len() >= self.capacity {
            let oldest = state
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                state.entries.remove(&k);
            }
        }
        state.entries.insert(key, (Arc::clone(&built), now));
        built
    }

    /// The redactor cached under `key`, if any.
    pub fn get(&self, key: &K) -> Option<Arc<Redactor>> {
        let now = Instant::now();
        let mut state = self.lock();
        state.expire(now, self.idle);
        state.entries.get_mut(key).map(|(r, used)| {
            *used = now;
            Arc::clone(r)
        })
    }

    /// Forgets the redactor under `key`.
    pub fn remove(&self, key: &K) {
        self.lock().entries.remove(key);
    }

    /// Forgets every cached redactor.
    pub fn clear(&self) {
        self.lock().entries.clear();
    }

    /// How many redactors are cached.
    pub fn len(&self) -> usize {
        let mut state = self.lock();
        state.expire(Instant::now(), self.idle);
        state.entries.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState<K>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<K: Eq + Hash + Clone> Default for RedactorCache<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K> std::fmt::Debug for RedactorCache<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedactorCache")
            .field("capacity", &self.capacity)
            .field("idle", &self.idle)
            .finish_non_exhaustive()
    }
}
