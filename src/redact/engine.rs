//! [`Redactor`]: one compiled matcher over every variant of every secret, and the span
//! merging that turns matches into `[REDACTED:<name>]`. It never logs, prints or `Debug`s
//! a value or a pattern.
//!
//! # How a search runs
//!
//! All patterns live in one Aho-Corasick automaton with [`MatchKind::Standard`] semantics,
//! walked by hand so that every match is seen, including overlapping and nested ones
//! (leftmost-first search would report `secret` and skip `cret-and-more` that overlaps it,
//! leaking `-and-more`). When the set of distinct 8-byte pattern prefixes is small enough,
//! a packed (Teddy) searcher over those prefixes skips the text where no match can start;
//! the automaton runs only from a candidate until it falls back to its start state.
//!
//! # Which name a merged span gets
//!
//! Matches that overlap (or nest) are merged into their union and replaced once. The label
//! names the secret of the match that starts first; among matches starting at the same
//! byte, the longest. Streaming gives the same output as one-shot redaction, because that
//! match is always known by the time its first byte is emitted.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::{Anchored, MatchKind, Span, StartKind, dfa, nfa::contiguous, packed};

use crate::error::Error;

use super::variants::variants;

/// Patterns totalling at most this many bytes are compiled to a DFA (fast, memory-hungry);
/// larger sets use a contiguous NFA.
const DFA_MAX_PATTERN_BYTES: usize = 64 * 1024;

/// Length of the pattern prefixes the packed candidate searcher looks for.
const CANDIDATE_PREFIX_LEN: usize = 8;

/// Removes every known encoding of a fixed set of secret values from bytes or text.
///
/// Built once from `(secret name, value)` pairs, then shared (`Send + Sync`, usually in an
/// `Arc`). Each value contributes its raw bytes, the trimmed lines of a multi-line value,
/// and its JSON, URL (upper/lower hex, form), base64 (standard/URL-safe, padded/unpadded,
/// three alignments), hex and XML encodings. Overlapping matches are merged, and each merged
/// span becomes `[REDACTED:<name>]`.
///
/// ```
/// use hush::redact::Redactor;
///
/// let r = Redactor::new([("stripe", "sk_live_abc123xyz")]);
/// assert_eq!(r.redact_str("key=sk_live_abc123xyz;"), "key=[REDACTED:stripe];");
/// // base64 inside a larger blob, e.g. HTTP basic auth of "user:sk_live_abc123xyz"
/// assert!(!r.redact_str("Basic dXNlcjpza19saXZlX2FiYzEyM3h5eg==").contains("abc"));
/// ```
///
/// The value bytes live inside the compiled automaton for the redactor's lifetime; drop
/// redactors of finished runs.
pub struct Redactor {
    labels: Vec<Box<[u8]>>,
    names: Vec<Box<str>>,
    /// Secret index of each pattern, by pattern id.
    owner: Vec<u32>,
    matcher: Matcher,
    candidates: Option<packed::Searcher>,
    max_pattern_len: usize,
    /// Bytes that begin at least one pattern.
    first_bytes: [bool; 256],
}

enum Matcher {
    Empty,
    Dfa(dfa::DFA),
    Nfa(contiguous::NFA),
}

/// One match before merging: a byte range and the secret it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hit {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) secret: u32,
}

impl Redactor {
    /// A redactor for the given `(name, value)` pairs. Empty values are ignored.
    ///
    /// # Panics
    ///
    /// If the automaton cannot be built, which needs pattern sets far beyond any real set of
    /// secrets (billions of states). [`Redactor::try_new`] reports that as an error.
    pub fn new<I, N, V>(secrets: I) -> Redactor
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<[u8]>,
    {
        match Redactor::try_new(secrets) {
            Ok(r) => r,
            Err(e) => panic!("building redactor: {e}"),
        }
    }

    /// Like [`Redactor::new`].
    ///
    /// # Errors
    ///
    /// An `Internal` error when the automaton would exceed aho-corasick's size limits.
    pub fn try_new<I, N, V>(secrets: I) -> Result<Redactor, Error>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<[u8]>,
    {
        let mut names: Vec<Box<str>> = Vec::new();
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut owner: Vec<u32> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (name, value) in secrets {
            let value = value.as_ref();
            if value.is_empty() {
                continue;
            }
            let index = u32::try_from(names.len())
                .map_err(|_| Error::internal("too many secrets for one redactor"))?;
            names.push(name.as_ref().into());
            for pattern in variants(value) {
                if seen.insert(pattern.clone()) {
                    patterns.push(pattern);
                    owner.push(index);
                }
            }
        }
        let labels = names
            .iter()
            .map(|n| format!("[REDACTED:{n}]").into_bytes().into_boxed_slice())
            .collect();
        let mut first_bytes = [false; 256];
        let mut max_pattern_len = 0;
        let mut total = 0;
        for p in &patterns {
            first_bytes[usize::from(p[0])] = true;
            max_pattern_len = max_pattern_len.max(p.len());
            total += p.len();
        }
        let build_error = |e: aho_corasick::BuildError| {
            Error::internal(format!("redactor automaton could not be built: {e}"))
        };
        let matcher = if patterns.is_empty() {
            Matcher::Empty
        } else if total <= DFA_MAX_PATTERN_BYTES {
            Matcher::Dfa(
                dfa::DFA::builder()
                    .match_kind(MatchKind::Standard)
                    .prefilter(false)
                    .start_kind(StartKind::Both)
                    .build(&patterns)
                    .map_err(build_error)?,
            )
        } else {
            Matcher::Nfa(
                contiguous::NFA::builder()
                    .match_kind(MatchKind::Standard)
                    .prefilter(false)
                    .build(&patterns)
                    .map_err(build_error)?,
            )
        };
        let candidates = candidate_searcher(&patterns);
        // Only the automaton keeps the patterns; wipe our copies of the encodings.
        for mut p in patterns.into_iter().chain(seen.drain()) {
            zeroize::Zeroize::zeroize(&mut p);
        }
        Ok(Redactor {
            labels,
            names,
            owner,
            matcher,
            candidates,
            max_pattern_len,
            first_bytes,
        })
    }

    /// A redactor that changes nothing.
    pub fn empty() -> Redactor {
        Redactor::new(std::iter::empty::<(&str, &[u8])>())
    }

    /// True when no secret was given (every input passes through unchanged).
    pub fn is_empty(&self) -> bool {
        matches!(self.matcher, Matcher::Empty)
    }

    /// How many secrets (non-empty values) this redactor covers.
    pub fn secrets_len(&self) -> usize {
        self.names.len()
    }

    /// How many distinct patterns (all variants of all secrets) it searches for.
    pub fn patterns_len(&self) -> usize {
        self.owner.len()
    }

    /// The length of the longest pattern; a stream holds back at most one byte less.
    pub fn max_pattern_len(&self) -> usize {
        self.max_pattern_len
    }

    /// Whether `input` holds any known variant of any secret.
    pub fn is_match(&self, input: &[u8]) -> bool {
        let mut hits = Vec::new();
        self.collect_hits(input, &mut hits);
        !hits.is_empty()
    }

    /// `input` with every secret replaced; borrowed when nothing matched.
    pub fn redact_bytes<'a>(&self, input: &'a [u8]) -> Cow<'a, [u8]> {
        let mut hits = Vec::new();
        self.collect_hits(input, &mut hits);
        if hits.is_empty() {
            return Cow::Borrowed(input);
        }
        sort_hits(&mut hits);
        let mut out = Vec::with_capacity(input.len());
        self.emit(input, &hits, input.len(), 0, &mut out);
        Cow::Owned(out)
    }

    /// Appends `input`, redacted, to `out`; returns whether anything was replaced.
    pub fn redact_into(&self, input: &[u8], out: &mut Vec<u8>) -> bool {
        let mut hits = Vec::new();
        self.collect_hits(input, &mut hits);
        if hits.is_empty() {
            out.extend_from_slice(input);
            return false;
        }
        sort_hits(&mut hits);
        self.emit(input, &hits, input.len(), 0, out);
        true
    }

    /// `input` with every secret replaced; borrowed when nothing matched.
    ///
    /// A secret whose bytes end inside a UTF-8 character (possible only for values that are
    /// not themselves UTF-8) would leave a broken character behind; such bytes become
    /// U+FFFD, never the original bytes.
    pub fn redact_str<'a>(&self, input: &'a str) -> Cow<'a, str> {
        match self.redact_bytes(input.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(input),
            Cow::Owned(bytes) => Cow::Owned(match String::from_utf8(bytes) {
                Ok(s) => s,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            }),
        }
    }

    /// The merged spans that [`Redactor::redact_bytes`] replaces, each with the name used
    /// in its label, in order.
    pub fn find_spans(&self, input: &[u8]) -> Vec<(Range<usize>, &str)> {
        let mut hits = Vec::new();
        self.collect_hits(input, &mut hits);
        sort_hits(&mut hits);
        let mut spans: Vec<(Range<usize>, &str)> = Vec::new();
        for h in hits {
            match spans.last_mut() {
                Some((range, _)) if h.start < range.end => range.end = range.end.max(h.end),
                _ => spans.push((h.start..h.end, &self.names[h.secret as usize])),
            }
        }
        spans
    }

    /// Every match in `hay`, unsorted (in order of end position), appended to `hits`.
    pub(crate) fn collect_hits(&self, hay: &[u8], hits: &mut Vec<Hit>) {
        let cands = self.candidates.as_ref();
        match &self.matcher {
            Matcher::Empty => {}
            Matcher::Dfa(a) => collect_hits(a, cands, &self.owner, hay, hits),
            Matcher::Nfa(a) => collect_hits(a, cands, &self.owner, hay, hits),
        }
    }

    /// The length of the longest suffix of `hay` that is a prefix of some pattern: bytes a
    /// stream must hold back because the next chunk may complete a match with them.
    pub(crate) fn hold_len(&self, hay: &[u8]) -> usize {
        match &self.matcher {
            Matcher::Empty => 0,
            Matcher::Dfa(a) => hold_len(a, &self.first_bytes, self.max_pattern_len, hay),
            Matcher::Nfa(a) => hold_len(a, &self.first_bytes, self.max_pattern_len, hay),
        }
    }

    /// Writes `hay[cursor..cut]` to `out` with every merged span replaced by its label, and
    /// returns the new cursor: the end of the text accounted for, which lies past `cut` when
    /// a span starting before `cut` ends after it. `hits` must be sorted by [`sort_hits`];
    /// a hit starting before `cursor` extends the span already written.
    pub(crate) fn emit(
        &self,
        hay: &[u8],
        hits: &[Hit],
        cut: usize,
        mut cursor: usize,
        out: &mut Vec<u8>,
    ) -> usize {
        for h in hits {
            if h.start >= cut {
                break;
            }
            if h.start < cursor {
                cursor = cursor.max(h.end);
                continue;
            }
            out.extend_from_slice(&hay[cursor..h.start]);
            out.extend_from_slice(&self.labels[h.secret as usize]);
            cursor = h.end;
        }
        if cursor < cut {
            out.extend_from_slice(&hay[cursor..cut]);
            cursor = cut;
        }
        cursor
    }
}

/// Orders hits by start, longest first at equal start: the order merging relies on.
pub(crate) fn sort_hits(hits: &mut [Hit]) {
    hits.sort_unstable_by(|a, b| {
        a.start
            .cmp(&b.start)
            .then(b.end.cmp(&a.end))
            .then(a.secret.cmp(&b.secret))
    });
}

/// A packed searcher over the distinct pattern prefixes, or `None` when there are too many
/// for it to pay off (the packed builder refuses beyond its limits).
fn candidate_searcher(patterns: &[Vec<u8>]) -> Option<packed::Searcher> {
    if patterns.is_empty() {
        return None;
    }
    let mut prefixes: Vec<&[u8]> = patterns
        .iter()
        .map(|p| &p[..p.len().min(CANDIDATE_PREFIX_LEN)])
        .collect();
    prefixes.sort_unstable();
    prefixes.dedup();
    // A prefix that has a shorter prefix in the set is redundant for finding starts.
    let mut minimal: Vec<&[u8]> = Vec::with_capacity(prefixes.len());
    for p in prefixes {
        if !minimal.iter().any(|m| p.starts_with(m)) {
            if minimal.len() == 64 {
                return None;
            }
            minimal.push(p);
        }
    }
    packed::Config::new()
        .match_kind(packed::MatchKind::LeftmostFirst)
        .builder()
        .extend(minimal)
        .build()
}

fn collect_hits<A: Automaton>(
    a: &A,
    candidates: Option<&packed::Searcher>,
    owner: &[u32],
    hay: &[u8],
    hits: &mut Vec<Hit>,
) {
    let start: StateID = a
        .start_state(Anchored::No)
        .expect("redactor automata support unanchored search");
    let len = hay.len();
    let mut pos = 0;
    while pos < len {
        if let Some(c) = candidates {
            match c.find_in(hay, Span::from(pos..len)) {
                Some(m) => pos = m.start(),
                None => return,
            }
        }
        let mut sid = start;
        let mut i = pos;
        while i < len {
            sid = a.next_state(Anchored::No, sid, hay[i]);
            i += 1;
            if a.is_special(sid) && a.is_match(sid) {
                for k in 0..a.match_len(sid) {
                    let pid = a.match_pattern(sid, k);
                    hits.push(Hit {
                        start: i - a.pattern_len(pid),
                        end: i,
                        secret: owner[pid.as_usize()],
                    });
                }
            }
            // Back at the start state: no match is in progress, so none can start before
            // `i`; let the candidate searcher skip ahead again.
            if candidates.is_some() && sid == start {
                break;
            }
        }
        pos = i;
    }
}

fn hold_len<A: Automaton>(
    a: &A,
    first_bytes: &[bool; 256],
    max_pattern_len: usize,
    hay: &[u8],
) -> usize {
    let window = hay.len().min(max_pattern_len.saturating_sub(1));
    let anchored = a
        .start_state(Anchored::Yes)
        .expect("redactor automata support anchored search");
    for s in hay.len() - window..hay.len() {
        if !first_bytes[usize::from(hay[s])] {
            continue;
        }
        let mut sid = anchored;
        let alive = hay[s..].iter().all(|&b| {
            sid = a.next_state(Anchored::Yes, sid, b);
            !a.is_dead(sid)
        });
        if alive {
            return hay.len() - s;
        }
    }
    0
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::empty()
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.names)
            .field("patterns", &self.owner.len())
            .field("max_pattern_len", &self.max_pattern_len)
            .finish_non_exhaustive()
    }
}
