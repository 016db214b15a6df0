//! The process-wide set of decrypted values that must be redacted from every log line, and
//! the cached [`Redactor`] over them. Values are kept only in `Zeroizing` buffers and never
//! appear in `Debug` output.
//!
//! A value enters with [`Registry::hold`] and stays while any [`Lease`] for it lives, plus a
//! grace period after the last lease drops (output produced late — a buffered log line, a
//! retried request's error — is still redacted). Expiry is checked lazily on `hold` and
//! `redactor`; there is no background thread.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::engine::Redactor;

/// How long a value stays redacted after its last lease is dropped, by default.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(60);

/// The registry every part of the process shares (telemetry reads it for every line).
pub fn global() -> &'static Registry {
    static GLOBAL: OnceLock<Registry> = OnceLock::new();
    GLOBAL.get_or_init(Registry::new)
}

/// A set of held secret values and the redactor over them. See the module docs.
pub struct Registry {
    shared: Arc<Shared>,
}

struct Shared {
    grace: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<u64, Entry>,
    /// Entry ids by a keyed hash of (name, value), so `hold` finds an entry without
    /// scanning every held value.
    by_content: HashMap<u64, Vec<u64>>,
    hasher: std::hash::RandomState,
    next_id: u64,
    /// The redactor over `entries`; `None` when the set changed since it was built.
    cached: Option<Arc<Redactor>>,
    /// The earliest moment an entry in grace may expire.
    next_expiry: Option<Instant>,
}

struct Entry {
    name: String,
    value: Zeroizing<Vec<u8>>,
    leases: usize,
    released_at: Option<Instant>,
}

/// Keeps one held value redacted; dropping it starts the value's grace period (once no
/// other lease holds the same name and value).
pub struct Lease {
    shared: Arc<Shared>,
    id: u64,
}

impl Registry {
    /// A registry with the default grace period of 60 s.
    pub fn new() -> Registry {
        Registry::with_grace(DEFAULT_GRACE)
    }

    /// A registry whose values stay redacted for `grace` after their last lease drops.
    pub fn with_grace(grace: Duration) -> Registry {
        Registry {
            shared: Arc::new(Shared {
                grace,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Registers a decrypted value; it stays redacted while any Lease for it lives and for a
    /// grace period after. Holding the same name and value again shares one entry.
    pub fn hold(&self, name: &str, value: &[u8]) -> Lease {
        let mut state = self.shared.lock();
        let now = Instant::now();
        state.expire(now, self.shared.grace);
        let content = std::hash::BuildHasher::hash_one(&state.hasher, (name, value));
        let existing = state.by_content.get(&content).and_then(|ids| {
            ids.iter().copied().find(|id| {
                state
                    .entries
                    .get(id)
                    .is_some_and(|e| e.name == name && e.value.as_slice() == value)
            })
        });
        let id = match existing {
            Some(id) => {
                let entry = state.entries.get_mut(&id).expect("entry just found");
                entry.leases += 1;
                entry.released_at = None;
                id
            }
            None => {
                let id = state.next_id;
                state.next_id += 1;
                state.by_content.entry(content).or_default().push(id);
                state.entries.insert(
                    id,
                    Entry {
                        name: name.to_owned(),
                        value: Zeroizing::new(value.to_vec()),
                        leases: 1,
                        released_at: None,
                    },
                );
                if !value.is_empty() {
                    state.cached = None;
                }
                id
            }
        };
        Lease {
            shared: Arc::clone(&self.shared),
            id,
        }
    }

    /// The redactor over every value currently held or in grace (cheap: cached Arc, rebuilt
    /// only when the set changed).
    pub fn redactor(&self) -> Arc<Redactor> {
        let mut state = self.shared.lock();
        state.expire(Instant::now(), self.shared.grace);
        if let Some(r) = &state.cached {
            return Arc::clone(r);
        }
        let r = Arc::new(Redactor::new(
            state
                .entries
                .values()
                .map(|e| (e.name.as_str(), e.value.as_slice())),
        ));
        state.cached = Some(Arc::clone(&r));
        r
    }

    /// How many values are held or in grace (after dropping the expired ones).
    pub fn len(&self) -> usize {
        let mut state = self.shared.lock();
        state.expire(Instant::now(), self.shared.grace);
        state.entries.len()
    }

    /// True when no value is held or in grace.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl Shared {
    /// Locks the state; a panic elsewhere while holding the lock leaves it usable (the
    /// state stays consistent between statements), so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    fn expire(&mut self, now: Instant, grace: Duration) {
        match self.next_expiry {
            Some(t) if t <= now => {}
            _ => return,
        }
        let expired: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                e.leases == 0
                    && e.released_at
                        .is_some_and(|at| now.duration_since(at) >= grace)
            })
            .map(|(&id, _)| id)
            .collect();
        for id in &expired {
            if let Some(e) = self.entries.remove(id) {
                let content = std::hash::BuildHasher::hash_one(
                    &self.hasher,
                    (e.name.as_str(), e.value.as_slice()),
                );
                if let Some(ids) = self.by_content.get_mut(&content) {
                    ids.retain(|other| other != id);
                    if ids.is_empty() {
                        self.by_content.remove(&content);
                    }
                }
            }
        }
        if !expired.is_empty() {
            self.cached = None;
        }
        self.next_expiry = self
            .entries
            .values()
            .filter(|e| e.leases == 0)
            .filter_map(|e| e.released_at)
            .min()
            .map(|at| at + grace);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        let now = Instant::now();
        let grace = self.shared.grace;
        if let Some(entry) = state.entries.get_mut(&self.id) {
            entry.leases = entry.leases.saturating_sub(1);
            if entry.leases == 0 {
                entry.released_at = Some(now);
                let expiry = now + grace;
                state.next_expiry = Some(state.next_expiry.map_or(expiry, |t| t.min(expiry)));
            }
        }
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        let name = state.entries.get(&self.id).map(|e| e.name.clone());
        f.debug_struct("Lease")
            .field("secret", &name)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("Registry")
            .field("held", &state.entries.len())
            .field("grace", &self.shared.grace)
            .finish()
    }
}
