//! [`Redactor`]: one compiled matcher over every variant of every secret, and the span
//! merging that turns matches into `[REDACTED:<name>]`. It never logs, prints or `Debug`s
//! a value or a pattern.
//!
//! # How a search runs
//!
//! All patterns live in one Aho-Corasick automaton with [`MatchKind::Standard`] semantics,
//! walked by hand so that every match is seen, including overlapping and nested ones
//! (leftmost-first search would report `secret` and skip `cret-and-more` that overlaps it,
//! leaking `-and-more`). When the set of distinct pattern prefixes (8 bytes, or down to 4
//! when that keeps them at most 31, Teddy's fastest form; at most 64) is small enough, a
//! packed (Teddy) searcher over those prefixes skips the text where no match can start,
//! and `memchr` finds the fixed leads (`\u00`, `&#x`) of the spellings made of one escape
//! per character; the automaton runs only from a candidate until it falls back to its
//! start state. Larger sets (hundreds of secrets) use
//! a bit table of hashed pattern grams tested at every fourth position instead, and walk
//! the automaton anchored only where a gram hits. (Measured on 8 MiB of log text: Teddy
//! ~1.9 GB/s with 5 secrets; gram filter ~0.5 GB/s with 1,000 secrets, against ~0.1 GB/s
//! for a plain automaton scan.)
//!
//! # Case
//!
//! Hex digits may be written in either case, mixed within one encoding (`%2f%2F`,
//! `\u00E9`, `&#x3c;`, `6B4c…`). The automaton ignores ASCII case, and each match it
//! reports is confirmed against its pattern: the matched bytes, with the pattern's hex
//! digits lower-cased, must hash (keyed SipHash) to the pattern's hash. So a hex digit
//! matches in any case and every other byte exactly (a value's lower-cased form is a
//! pattern of its own). Candidate prefixes list every case of the hex digits they hold, so
//! every confirmed match starts at a candidate: the result does not depend on where a
//! walk began, and streaming still equals one-shot redaction.
//!
//! # Cutting
//!
//! [`Redactor::redact_cut`] cuts text at a size cap after looking past the cap, so that a
//! match running across the cut is replaced whole: a cap can never return a prefix of a
//! secret, and what it keeps depends only on the bytes before it.
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

use super::variants::{Spelling, spellings};

/// Patterns totalling at most this many bytes are compiled to a DFA (fast, memory-hungry);
/// larger sets use a contiguous NFA.
const DFA_MAX_PATTERN_BYTES: usize = 64 * 1024;

/// Length of the pattern prefixes the packed candidate searcher looks for.
const CANDIDATE_PREFIX_LEN: usize = 8;

/// Below this length a haystack is walked by the automaton alone.
const SHORT_HAYSTACK: usize = 64;

/// Removes every known encoding of a fixed set of secret values from bytes or text.
///
/// Built once from `(secret name, value)` pairs, then shared (`Send + Sync`, usually in an
/// `Arc`). Each value contributes its raw bytes, its trimmed form, the trimmed lines of a
/// multi-line value, its lower-cased and IDNA forms, and its JSON (also `\uXXXX` for every
/// character), URL (percent and form encodings as the common writers produce them, and
/// each twice), base64 (standard/URL-safe, padded/unpadded, three alignments; also of the
/// JSON-escaped value), hex and XML/HTML (named and numeric entities) encodings; hex
/// digits match in either case. Overlapping matches are merged, and each merged span
/// becomes `[REDACTED:<name>]`.
///
/// ```
/// use hush::redact::Redactor;
///
/// let r = Redactor::new([("stripe", "sk_live_abc123xyz")]);
/// assert_eq!(r.redact_str("key=sk_live_abc123xyz;"), "key=[REDACTED:stripe];");
/// // base64 inside a larger blob, e.g. HTTP basic auth of "user:sk_live_abc123xyz"
/// let auth = r.redact_str("Basic dXNlcjpza19saXZlX2FiYzEyM3h5eg==");
/// assert!(auth.starts_with("Basic ") && auth.contains("[REDACTED:stripe]"));
/// assert!(!auth.contains("2FiYzEyM3h5"));
/// ```
///
/// The value bytes live inside the compiled automaton for the redactor's lifetime; drop
/// redactors of finished runs.
pub struct Redactor {
    labels: Vec<Box<[u8]>>,
    names: Vec<Box<str>>,
    /// Secret index of each pattern, by pattern id.
    owner: Vec<u32>,
    /// How a match of each pattern is confirmed, by pattern id (the automaton ignores
    /// ASCII case; see the module docs).
    checks: Vec<Check>,
    /// Keys the hashes in `checks`.
    hasher: MatchHasher,
    matcher: Matcher,
    candidates: Candidates,
    max_pattern_len: usize,
    /// Shorter haystacks (most JSON keys and numbers) cannot match at all.
    min_pattern_len: usize,
    /// Byte pairs that begin at least one pattern (a 65,536-bit set), and single bytes that
    /// begin one: a quick test before an anchored walk when computing the stream hold.
    first_pairs: Box<[u64]>,
    first_bytes: [bool; 256],
    /// The bytes (one to three) that every pattern of [`LONG_PATTERN`] bytes or more
    /// begins with, when they are that few: a stream's hold looks for a long match only
    /// where one of them is.
    long_first: Option<Vec<u8>>,
}

/// See `Redactor::long_first`.
const LONG_PATTERN: usize = 96;

/// How the text where no match can start is skipped.
enum Candidates {
    /// Few distinct prefixes: Teddy finds the next place a pattern may start, and
    /// [`Leads`] the places where an escape that some spellings are made of begins.
    Packed(packed::Searcher, Leads),
    /// Many patterns, all at least 4 bytes: a bit table of hashed pattern grams, tested at
    /// every `k`-th position; a hit starts anchored walks just before it.
    Grams(GramFilter),
    /// Very short patterns: walk the automaton over every byte.
    None,
}

enum Matcher {
    Empty,
    Dfa(dfa::DFA),
    Nfa(contiguous::NFA),
}

/// The fixed syntax that spellings made of one escape per character begin with
/// (`\u00`, `&#x`, `&#1`): the same for every value, found with `memchr` on their first
/// bytes (at most three) and compared there, instead of as Teddy prefixes (which would
/// push Teddy past the 31 prefixes it searches fastest, or make it test three-byte
/// prefixes everywhere).
struct Leads {
    first: Vec<u8>,
    leads: Vec<Vec<u8>>,
}

impl Leads {
    /// The first place at or after `from` where a lead begins, or `hay.len()`.
    #[inline]
    fn next(&self, hay: &[u8], from: usize) -> usize {
        let at = |i: usize| self.leads.iter().any(|l| hay[from + i..].starts_with(l));
        let found = match self.first[..] {
            [] => None,
            [a] => memchr::memchr_iter(a, &hay[from..]).find(|&i| at(i)),
            [a, b] => memchr::memchr2_iter(a, b, &hay[from..]).find(|&i| at(i)),
            [a, b, c, ..] => memchr::memchr3_iter(a, b, c, &hay[from..]).find(|&i| at(i)),
        };
        found.map_or(hay.len(), |i| from + i)
    }
}

/// How a match the case-blind automaton reports is confirmed.
enum Check {
    /// The pattern has no ASCII letter: every match is exact.
    None,
    /// The matched bytes, with the `fold` positions (hex digits a writer may put in either
    /// case) lower-cased, must hash to `hash`, as the pattern did.
    Hash {
        hash: u64,
        /// A bit set over the pattern's positions; `None` when nothing folds.
        fold: Option<Box<[u64]>>,
    },
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
        let mut patterns: Vec<Spelling> = Vec::new();
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
            for spelling in spellings(value) {
                if seen.insert(spelling.bytes.clone()) {
                    patterns.push(spelling);
                    owner.push(index);
                }
            }
        }
        let labels = names
            .iter()
            .map(|n| format!("[REDACTED:{n}]").into_bytes().into_boxed_slice())
            .collect();
        let hasher = MatchHasher::new();
        let checks = patterns.iter().map(|p| check_for(&hasher, p)).collect();
        let mut first_bytes = [false; 256];
        let mut first_pairs = vec![0u64; 1024].into_boxed_slice();
        let mut max_pattern_len = 0;
        let min_pattern_len = patterns.iter().map(|p| p.bytes.len()).min().unwrap_or(0);
        let mut total = 0;
        for p in &patterns {
            let cases = |i: usize| -> Vec<u8> {
                let b = p.bytes[i];
                if p.hex.get(i).copied().unwrap_or(false) {
                    vec![b.to_ascii_lowercase(), b.to_ascii_uppercase()]
                } else {
                    vec![b]
                }
            };
            for b0 in cases(0) {
                first_bytes[usize::from(b0)] = true;
                if p.bytes.len() >= 2 {
                    for b1 in cases(1) {
                        let pair = usize::from(b0) << 8 | usize::from(b1);
                        first_pairs[pair >> 6] |= 1 << (pair & 63);
                    }
                } else {
                    // A one-byte pattern: every pair starting with it may begin a pattern.
                    for b1 in 0..=255usize {
                        let pair = usize::from(b0) << 8 | b1;
                        first_pairs[pair >> 6] |= 1 << (pair & 63);
                    }
                }
            }
            max_pattern_len = max_pattern_len.max(p.bytes.len());
            total += p.bytes.len();
        }
        let mut long_first: Vec<u8> = patterns
            .iter()
            .filter(|p| p.bytes.len() >= LONG_PATTERN)
            .flat_map(|p| {
                let b = p.bytes[0];
                if p.hex.first().copied().unwrap_or(false) {
                    vec![b.to_ascii_lowercase(), b.to_ascii_uppercase()]
                } else {
                    vec![b]
                }
            })
            .collect();
        long_first.sort_unstable();
        long_first.dedup();
        let long_first = (!long_first.is_empty() && long_first.len() <= 3).then_some(long_first);
        let build_error = |e: aho_corasick::BuildError| {
            Error::internal(format!("redactor automaton could not be built: {e}"))
        };
        let bytes: Vec<&[u8]> = patterns.iter().map(|p| p.bytes.as_slice()).collect();
        let matcher = if patterns.is_empty() {
            Matcher::Empty
        } else if total <= DFA_MAX_PATTERN_BYTES {
            Matcher::Dfa(
                dfa::DFA::builder()
                    .match_kind(MatchKind::Standard)
                    .ascii_case_insensitive(true)
                    .prefilter(false)
                    .start_kind(StartKind::Both)
                    .build(&bytes)
                    .map_err(build_error)?,
            )
        } else {
            Matcher::Nfa(
                contiguous::NFA::builder()
                    .match_kind(MatchKind::Standard)
                    .ascii_case_insensitive(true)
                    .prefilter(false)
                    .build(&bytes)
                    .map_err(build_error)?,
            )
        };
        drop(bytes);
        // Measured on log text: Teddy beats the gram filter where it applies (few prefixes).
        let candidates = match candidate_searcher(&patterns) {
            Some((searcher, leads)) => Candidates::Packed(searcher, leads),
            None => GramFilter::build(&patterns).map_or(Candidates::None, Candidates::Grams),
        };
        // Only the automaton keeps the patterns; wipe our copies of the encodings.
        for mut p in patterns.into_iter().map(|p| p.bytes).chain(seen.drain()) {
            zeroize::Zeroize::zeroize(&mut p);
        }
        Ok(Redactor {
            labels,
            names,
            owner,
            checks,
            hasher,
            matcher,
            candidates,
            max_pattern_len,
            min_pattern_len,
            first_pairs,
            first_bytes,
            long_first,
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

    /// Which automaton and skip strategy this redactor uses, e.g. `"dfa+teddy"` or
    /// `"nfa+grams"` (for diagnostics and benchmarks; not a stable format).
    pub fn search_strategy(&self) -> &'static str {
        match (&self.matcher, &self.candidates) {
            (Matcher::Empty, _) => "empty",
            (Matcher::Dfa(_), Candidates::Packed(..)) => "dfa+teddy",
            (Matcher::Dfa(_), Candidates::Grams(_)) => "dfa+grams",
            (Matcher::Dfa(_), Candidates::None) => "dfa",
            (Matcher::Nfa(_), Candidates::Packed(..)) => "nfa+teddy",
            (Matcher::Nfa(_), Candidates::Grams(_)) => "nfa+grams",
            (Matcher::Nfa(_), Candidates::None) => "nfa",
        }
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
        crate::metrics::redacted(hits.len());
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
        crate::metrics::redacted(hits.len());
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
        if hay.len() < self.min_pattern_len {
            return;
        }
        match &self.matcher {
            Matcher::Empty => {}
            Matcher::Dfa(a) => self.collect_hits_with(a, hay, hits),
            Matcher::Nfa(a) => self.collect_hits_with(a, hay, hits),
        }
    }

    fn collect_hits_with<A: Automaton>(&self, a: &A, hay: &[u8], hits: &mut Vec<Hit>) {
        match &self.candidates {
            // Teddy's setup costs more than walking a short haystack byte by byte.
            Candidates::Packed(c, leads) if hay.len() >= SHORT_HAYSTACK => {
                collect_hits(self, a, Some((c, leads)), hay, hits)
            }
            Candidates::Grams(g) => collect_hits_grams(self, a, g, hay, hits),
            _ => collect_hits(self, a, None, hay, hits),
        }
    }

    /// Records the automaton's match of pattern `pid` ending at `end` when it is a match
    /// of the pattern itself, not merely one ignoring ASCII case.
    // Matches are rare: kept out of line, so that the walks stay tight.
    #[inline(never)]
    fn push_hit(&self, hay: &[u8], pid: usize, end: usize, len: usize, hits: &mut Vec<Hit>) {
        let start = end - len;
        let confirmed = match &self.checks[pid] {
            Check::None => true,
            Check::Hash { hash, fold } => {
                self.hasher.hash(&hay[start..end], fold.as_deref()) == *hash
            }
        };
        if confirmed {
            hits.push(Hit {
                start,
                end,
                secret: self.owner[pid],
            });
        }
    }

    /// `input` cut at `cap` bytes and redacted as if it had not been cut: every match
    /// that starts before `cap` becomes its whole label, also when the cut falls inside
    /// it, and only bytes before `cap` are kept otherwise. `input` should hold at least
    /// [`Redactor::cut_window`]`(cap)` bytes when it is longer than `cap` (more is
    /// ignored), so that a match starting before the cut is seen whole. Returns the
    /// output and whether anything was cut (`input` is longer than `cap`).
    ///
    /// Nothing of a secret that runs across the cut survives, and the part kept depends
    /// on the bytes before the cut only, whatever follows.
    ///
    /// ```
    /// use hush::redact::Redactor;
    ///
    /// let r = Redactor::new([("k", "sk_live_0123456789")]);
    /// let body = b"echo: sk_live_0123456789 done";
    /// for cap in 0..body.len() {
    ///     let (out, cut) = r.redact_cut(body, cap);
    ///     assert!(cut);
    ///     let out = String::from_utf8(out).unwrap();
    ///     assert!(!out.contains("sk_l"), "{out}");
    /// }
    /// assert_eq!(r.redact_cut(body, 8).0, b"echo: [REDACTED:k]");
    /// ```
    pub fn redact_cut(&self, input: &[u8], cap: usize) -> (Vec<u8>, bool) {
        let cut = input.len() > cap;
        let keep = cap.min(input.len());
        let window = &input[..input.len().min(self.cut_window(cap))];
        let mut hits = Vec::new();
        self.collect_hits(window, &mut hits);
        hits.retain(|h| h.start < keep);
        let mut out = Vec::with_capacity(keep + 64);
        if hits.is_empty() {
            out.extend_from_slice(&input[..keep]);
        } else {
            crate::metrics::redacted(hits.len());
            sort_hits(&mut hits);
            self.emit(window, &hits, keep, 0, &mut out);
        }
        (out, cut)
    }

    /// How many bytes to read before cutting at `cap` with [`Redactor::redact_cut`]: `cap`
    /// plus one byte less than the longest pattern, and at least one byte past `cap` (to
    /// tell whether there was more).
    pub fn cut_window(&self, cap: usize) -> usize {
        cap.saturating_add(self.max_pattern_len.saturating_sub(1).max(1))
    }

    /// The length of the longest suffix of `hay` that is a prefix of some pattern: bytes a
    /// stream must hold back because the next chunk may complete a match with them.
    pub(crate) fn hold_len(&self, hay: &[u8]) -> usize {
        match &self.matcher {
            Matcher::Empty => 0,
            Matcher::Dfa(a) => hold_len(a, self, hay),
            Matcher::Nfa(a) => hold_len(a, self, hay),
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

/// The check that confirms a match of `p`: the keyed hash of its bytes (hex digits in
/// lower case), or nothing when the pattern has no ASCII letter.
fn check_for(hasher: &MatchHasher, p: &Spelling) -> Check {
    if !p.bytes.iter().any(u8::is_ascii_alphabetic) {
        return Check::None;
    }
    let fold = p.folds().then(|| {
        let mut bits = vec![0u64; p.bytes.len().div_ceil(64)].into_boxed_slice();
        for (i, _) in p.hex.iter().enumerate().filter(|(_, h)| **h) {
            bits[i >> 6] |= 1 << (i & 63);
        }
        bits
    });
    Check::Hash {
        hash: hasher.hash(&p.bytes, fold.as_deref()),
        fold,
    }
}

/// A keyed multiply-xor hash of a match, with the bytes at `fold` positions taken in lower
/// case (hex digits: setting bit 5 lower-cases `A-F` and leaves `0-9` and `a-f` alone).
/// Fast rather than strong: a collision only makes text that equals a pattern ignoring
/// case count as that pattern (more redaction, never less), and the key is random per
/// redactor.
struct MatchHasher {
    key: u64,
}

impl MatchHasher {
    fn new() -> MatchHasher {
        let mut key = [0u8; 8];
        // Without the OS's randomness, a fixed key still confirms every exact match.
        let _ = getrandom::fill(&mut key);
        MatchHasher {
            key: u64::from_le_bytes(key) | 1,
        }
    }

    #[inline]
    fn hash(&self, bytes: &[u8], fold: Option<&[u64]>) -> u64 {
        const K: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut h = self.key;
        for (n, chunk) in bytes.chunks(8).enumerate() {
            let mut w = read_le(chunk);
            if let Some(fold) = fold {
                let bits = (fold[n >> 3] >> ((n & 7) * 8)) & 0xff;
                if bits != 0 {
                    for j in 0..8 {
                        if bits & (1 << j) != 0 {
                            w |= 0x20 << (8 * j);
                        }
                    }
                }
            }
            h = (h ^ w).wrapping_mul(K);
            h ^= h >> 29;
        }
        h = (h ^ bytes.len() as u64).wrapping_mul(K);
        h ^ (h >> 32)
    }
}

/// The prefixes where a match of `p` may start, as the candidate searcher looks for them:
/// its first `len` bytes (no more than its `lead`), and when hex digits among them may be
/// in either case, every case of those digits (the prefix is shortened, down to three
/// bytes, so that few fold).
fn start_prefixes(p: &Spelling, len: usize) -> Vec<Vec<u8>> {
    prefixes_up_to(p, len.min(p.lead.unwrap_or(usize::MAX)))
}

/// As [`start_prefixes`], ignoring the spelling's lead.
fn prefixes_up_to(p: &Spelling, len: usize) -> Vec<Vec<u8>> {
    let folds = |n: usize| p.hex.iter().take(n).filter(|h| **h).count();
    let full = p.bytes.len().min(len);
    // Each hex digit that folds doubles the prefixes: the longest prefix with none if it
    // has four bytes, else with one, else with two.
    let len = (0..=2)
        .find_map(|most| (full.min(4)..=full).rev().find(|&n| folds(n) <= most))
        .unwrap_or(full.min(4));
    let mut out = vec![p.bytes[..len].to_vec()];
    for i in (0..len).filter(|&i| p.hex.get(i).copied().unwrap_or(false)) {
        let more: Vec<Vec<u8>> = out
            .iter()
            .map(|v| {
                let mut v = v.clone();
                v[i] = v[i].to_ascii_uppercase();
                v
            })
            .collect();
        out.extend(more);
    }
    out
}

/// The fewest prefixes that cover `prefixes`: one that has a shorter one in the set is
/// redundant for finding starts. `None` past `limit`.
fn minimal_prefixes(mut prefixes: Vec<Vec<u8>>, limit: usize) -> Option<Vec<Vec<u8>>> {
    prefixes.sort_unstable();
    prefixes.dedup();
    let mut minimal: Vec<Vec<u8>> = Vec::with_capacity(limit.min(prefixes.len()));
    let mut result = Some(());
    for p in prefixes.iter() {
        if !minimal.iter().any(|m| p.starts_with(m)) {
            if minimal.len() == limit {
                result = None;
                break;
            }
            minimal.push(p.clone());
        }
    }
    for mut p in prefixes {
        zeroize::Zeroize::zeroize(&mut p);
    }
    match result {
        Some(()) => Some(minimal),
        None => {
            for mut p in minimal {
                zeroize::Zeroize::zeroize(&mut p);
            }
            None
        }
    }
}

/// A packed searcher over the distinct pattern prefixes, and the [`Leads`] of the
/// spellings that begin with an escape's syntax; or `None` when there are too many
/// prefixes for Teddy to pay off (more than 64 even when cut to four bytes). Prefixes are
/// as long as possible, up to [`CANDIDATE_PREFIX_LEN`], but no more than 31 if cutting
/// them (down to four bytes) gets there: up to 31 Teddy runs in its fastest form.
fn candidate_searcher(patterns: &[Spelling]) -> Option<(packed::Searcher, Leads)> {
    if patterns.is_empty() {
        return None;
    }
    let lead_prefixes = minimal_prefixes(
        patterns
            .iter()
            .filter(|p| p.lead.is_some())
            .flat_map(|p| start_prefixes(p, CANDIDATE_PREFIX_LEN))
            .collect(),
        usize::MAX,
    )?;
    let mut first: Vec<u8> = lead_prefixes.iter().map(|l| l[0]).collect();
    first.sort_unstable();
    first.dedup();
    // More than three first bytes cannot be found with one memchr: Teddy takes them all.
    let use_leads = first.len() <= 3;
    let rest: Vec<&Spelling> = patterns
        .iter()
        .filter(|p| !use_leads || p.lead.is_none())
        .collect();
    let leads = if use_leads {
        Leads {
            first,
            leads: lead_prefixes,
        }
    } else {
        Leads {
            first: Vec::new(),
            leads: Vec::new(),
        }
    };
    let (len, mut minimal) = [31, 64].into_iter().find_map(|limit| {
        (4..=CANDIDATE_PREFIX_LEN).rev().find_map(|len| {
            minimal_prefixes(
                rest.iter().flat_map(|p| start_prefixes(p, len)).collect(),
                limit,
            )
            .map(|m| (len, m))
        })
    })?;
    // With room left (few secrets), Teddy takes the leads too, as four-byte prefixes, and
    // the memchr pass is saved.
    let mut leads = leads;
    if !leads.leads.is_empty() && minimal.len() < 31 {
        let all = minimal_prefixes(
            rest.iter()
                .flat_map(|p| start_prefixes(p, len))
                .chain(
                    patterns
                        .iter()
                        .filter(|p| p.lead.is_some())
                        .flat_map(|p| prefixes_up_to(p, 4)),
                )
                .collect(),
            31,
        );
        if let Some(all) = all {
            for mut p in std::mem::replace(&mut minimal, all) {
                zeroize::Zeroize::zeroize(&mut p);
            }
            leads = Leads {
                first: Vec::new(),
                leads: Vec::new(),
            };
        }
    }
    let searcher = packed::Config::new()
        .match_kind(packed::MatchKind::LeftmostFirst)
        .builder()
        .extend(&minimal)
        .build();
    for mut p in minimal {
        zeroize::Zeroize::zeroize(&mut p);
    }
    Some((searcher?, leads))
}

fn collect_hits<A: Automaton>(
    r: &Redactor,
    a: &A,
    candidates: Option<(&packed::Searcher, &Leads)>,
    hay: &[u8],
    hits: &mut Vec<Hit>,
) {
    let start: StateID = a
        .start_state(Anchored::No)
        .expect("redactor automata support unanchored search");
    let len = hay.len();
    let mut pos = 0;
    // The next candidate of each kind at or after the position it was looked for from
    // (`len`: none); looked for again once `pos` passes it.
    let (mut prefix_at, mut lead_at) = (0, 0);
    let mut first = true;
    while pos < len {
        if let Some((c, leads)) = candidates {
            if first || prefix_at < pos {
                prefix_at = c
                    .find_in(hay, Span::from(pos..len))
                    .map_or(len, |m| m.start());
            }
            if first || lead_at < pos {
                lead_at = leads.next(hay, pos);
            }
            first = false;
            pos = prefix_at.min(lead_at);
            if pos >= len {
                return;
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
                    r.push_hit(hay, pid.as_usize(), i, a.pattern_len(pid), hits);
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

/// Hashed `q`-byte grams of every pattern at offsets `0..k`, as a bit table with about
/// 64 bits per gram. The text is tested only at every `k`-th position: a pattern of at least
/// `q + k - 1` bytes (every pattern, by the choice of `q` and `k`) puts one of its grams on
/// such a position, and a hit there means a pattern may start at one of the `k` positions
/// ending at it.
struct GramFilter {
    q: usize,
    k: usize,
    mask: u64,
    shift: u32,
    bits: Box<[u64]>,
}

impl GramFilter {
    fn build(patterns: &[Spelling]) -> Option<GramFilter> {
        let min_len = patterns.iter().map(|p| p.bytes.len()).min()?.min(8);
        if min_len < 4 {
            return None;
        }
        let q = min_len.min(5);
        let k = min_len - q + 1;
        let mask = (1u64 << (8 * q)) - 1;
        let log2 = (patterns.len() * k * 64)
            .next_power_of_two()
            .trailing_zeros()
            .clamp(12, 24);
        let mut filter = GramFilter {
            q,
            k,
            mask,
            shift: 64 - log2,
            bits: vec![0u64; 1 << (log2 - 6)].into_boxed_slice(),
        };
        for p in patterns {
            for off in 0..k {
                let h = filter.hash(read_le(&p.bytes[off..off + q]));
                filter.bits[h >> 6] |= 1 << (h & 63);
            }
        }
        Some(filter)
    }

    /// The gram's slot. Bit 5 of every byte is set first, so that both cases of a letter
    /// (which the automaton treats alike) share a slot.
    #[inline(always)]
    fn hash(&self, window: u64) -> usize {
        (((window | 0x2020_2020_2020_2020) & self.mask).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            >> self.shift) as usize
    }
}

/// Up to 8 bytes as a little-endian integer (missing high bytes are zero).
#[inline(always)]
fn read_le(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    let n = bytes.len().min(8);
    buf[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(buf)
}

fn collect_hits_grams<A: Automaton>(
    r: &Redactor,
    a: &A,
    grams: &GramFilter,
    hay: &[u8],
    hits: &mut Vec<Hit>,
) {
    if hay.len() < grams.q {
        return;
    }
    let anchored = a
        .start_state(Anchored::Yes)
        .expect("redactor automata support anchored search");
    let last = hay.len() - grams.q;
    let k = grams.k;
    let test = |window: u64| {
        let h = grams.hash(window);
        grams.bits[h >> 6] & (1 << (h & 63)) != 0
    };
    let mut on_hit = |i: usize| {
        for start in i.saturating_sub(k - 1)..=i {
            walk_anchored(r, a, anchored, hay, start, hits);
        }
    };
    let mut i = 0;
    while i + 8 <= hay.len() {
        if test(u64::from_le_bytes(
            hay[i..i + 8].try_into().expect("8 bytes"),
        )) {
            on_hit(i);
        }
        i += k;
    }
    while i <= last {
        if test(read_le(&hay[i..])) {
            on_hit(i);
        }
        i += k;
    }
}

/// Every pattern that starts exactly at `start`.
#[inline(never)]
fn walk_anchored<A: Automaton>(
    r: &Redactor,
    a: &A,
    anchored: StateID,
    hay: &[u8],
    start: usize,
    hits: &mut Vec<Hit>,
) {
    let mut sid = anchored;
    for (end, &b) in hay.iter().enumerate().skip(start) {
        sid = a.next_state(Anchored::Yes, sid, b);
        if a.is_dead(sid) {
            return;
        }
        if a.is_match(sid) {
            let len = end + 1 - start;
            for k in 0..a.match_len(sid) {
                let pid = a.match_pattern(sid, k);
                // A match state also lists patterns that are suffixes of this path.
                if a.pattern_len(pid) == len {
                    r.push_hit(hay, pid.as_usize(), end + 1, len, hits);
                }
            }
        }
    }
}

fn hold_len<A: Automaton>(a: &A, r: &Redactor, hay: &[u8]) -> usize {
    let window = hay.len().min(r.max_pattern_len.saturating_sub(1));
    let anchored = a
        .start_state(Anchored::Yes)
        .expect("redactor automata support anchored search");
    let len = hay.len();
    let walk = |s: usize| {
        let mut sid = anchored;
        hay[s..].iter().all(|&b| {
            sid = a.next_state(Anchored::Yes, sid, b);
            !a.is_dead(sid)
        })
    };
    let may_start = |pair: usize| r.first_pairs[(pair >> 6) & 1023] & (1 << (pair & 63)) != 0;
    let alive_from = |s: usize| {
        let starts = if s + 1 < len {
            may_start(usize::from(hay[s]) << 8 | usize::from(hay[s + 1]))
        } else {
            r.first_bytes[usize::from(hay[s])]
        };
        starts && walk(s)
    };
    // A suffix of `LONG_PATTERN` bytes or more can only begin a long pattern: where those
    // begin with few distinct bytes, only the places holding one are tried.
    let mut short_from = len - window;
    if let Some(first) = &r.long_first {
        let long_end = len - window.min(LONG_PATTERN - 1);
        let range = &hay[len - window..long_end];
        let at = |i: usize| len - window + i;
        let found = match first[..] {
            [a] => memchr::memchr_iter(a, range)
                .map(at)
                .find(|&s| alive_from(s)),
            [a, b] => memchr::memchr2_iter(a, b, range)
                .map(at)
                .find(|&s| alive_from(s)),
            [a, b, c] => memchr::memchr3_iter(a, b, c, range)
                .map(at)
                .find(|&s| alive_from(s)),
            _ => None,
        };
        if let Some(s) = found {
            return len - s;
        }
        short_from = long_end;
    }
    // The tight part: a pair test at every place, a walk only where one passes.
    if short_from < len {
        for (k, w) in hay[short_from..].windows(2).enumerate() {
            if may_start(usize::from(w[0]) << 8 | usize::from(w[1])) && walk(short_from + k) {
                return len - (short_from + k);
            }
        }
        if r.first_bytes[usize::from(hay[len - 1])] && walk(len - 1) {
            return 1;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::variants::variants;
    use proptest::prelude::*;

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
    }

    /// `out` with every label taken out, so that only bytes from the input remain.
    fn unlabelled(out: &[u8], label: &[u8]) -> Vec<u8> {
        let mut rest = Vec::new();
        let mut i = 0;
        while i < out.len() {
            if out[i..].starts_with(label) {
                rest.push(0);
                i += label.len();
            } else {
                rest.push(out[i]);
                i += 1;
            }
        }
        rest
    }

    #[test]
    fn a_cut_inside_a_secret_redacts_the_whole_secret_at_every_cap() {
        let secret = b"sk_live_Zq8pR2mK9xT4";
        let r = Redactor::new([("k", secret)]);
        let mut body = b"{\"echo\":\"".to_vec();
        let at = body.len();
        body.extend_from_slice(secret);
        body.extend_from_slice(b"\",\"n\":1}");
        for cap in 0..=body.len() + 1 {
            let (out, cut) = r.redact_cut(&body, cap);
            assert_eq!(cut, body.len() > cap, "cap {cap}");
            let rest = unlabelled(&out, b"[REDACTED:k]");
            assert!(
                !contains(&rest, b"sk"),
                "cap {cap}: {:?}",
                String::from_utf8_lossy(&out)
            );
            if cap <= at {
                assert_eq!(out, &body[..cap], "cap {cap}");
            } else {
                assert!(out.ends_with(b"[REDACTED:k]") || cap >= at + secret.len());
            }
        }
    }

    #[test]
    fn a_cut_reads_only_its_window() {
        let r = Redactor::new([("k", "abcdefgh-secret")]);
        assert_eq!(r.cut_window(10), 10 + r.max_pattern_len() - 1);
        assert_eq!(Redactor::empty().cut_window(10), 11);
        assert_eq!(
            Redactor::empty().redact_cut(b"hello", 3),
            (b"hel".to_vec(), true)
        );
        assert_eq!(
            Redactor::empty().redact_cut(b"hello", 5),
            (b"hello".to_vec(), false)
        );
    }

    #[test]
    fn hex_digits_match_in_any_mix_of_cases_and_nothing_else_folds() {
        let value = b"Sk_live_Zq8pR/+=&x";
        let r = Redactor::new([("k", value)]);
        let hex = hex::encode(value);
        let mixed: String = hex
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 3 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        assert_eq!(r.redact_str(&format!("h={mixed};")), "h=[REDACTED:k];");
        let escaped: String = value
            .iter()
            .enumerate()
            .map(|(i, b)| {
                if i % 2 == 0 {
                    format!("\\u{b:04X}")
                } else {
                    format!("\\u{b:04x}")
                }
            })
            .collect();
        assert_eq!(r.redact_str(&escaped), "[REDACTED:k]");
        assert_eq!(
            r.redact_str("q=Sk_live_Zq8pR%2f%2B%3d%26x"),
            "q=[REDACTED:k]"
        );
        // The raw value and its lower-cased form are redacted, other cases are not.
        assert_eq!(r.redact_str("sk_live_zq8pr/+=&x"), "[REDACTED:k]");
        assert_eq!(r.redact_str("SK_LIVE_ZQ8PR/+=&X"), "SK_LIVE_ZQ8PR/+=&X");
        assert_eq!(
            r.redact_str("Sk_live_Zq8pR%2F%2b%3D%26X"),
            "Sk_live_Zq8pR%2F%2b%3D%26X"
        );
    }

    #[test]
    fn upper_case_text_is_not_redacted_for_a_lower_case_secret() {
        let r = Redactor::new([("k", "abcdefghijkl")]);
        assert_eq!(
            r.redact_str("ABCDEFGHIJKL abcdefghijkl"),
            "ABCDEFGHIJKL [REDACTED:k]"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// A body that echoes one encoding of the secret: at every cap, nothing of it but
        /// its whole label comes out, and before the echo the output is the body's bytes.
        #[test]
        fn no_cap_leaves_a_prefix_of_an_echoed_encoding(
            secret in "[a-zA-Z0-9_~*. \\-]{8,32}",
            which in any::<prop::sample::Index>(),
            before in "[,;|]{0,12}",
            after in "[,;|]{0,12}",
        ) {
            let all = variants(secret.as_bytes());
            let echoed = which.get(&all).clone();
            let r = Redactor::new([("s", secret.as_bytes())]);
            let mut body = before.as_bytes().to_vec();
            body.extend_from_slice(&echoed);
            body.extend_from_slice(after.as_bytes());
            let head = &echoed[..2];
            for cap in 0..=body.len() {
                let (out, cut) = r.redact_cut(&body, cap);
                prop_assert_eq!(cut, body.len() > cap);
                let rest = unlabelled(&out, b"[REDACTED:s]");
                prop_assert!(!contains(&rest, head), "cap {}", cap);
                if cap <= before.len() {
                    prop_assert_eq!(&out[..], &body[..cap]);
                }
            }
        }
    }
}
