//! The product's parameter order, and sorting by it in time linear in the query's bytes (plus
//! n log n in the parameters), whatever the parameters look like.
//!
//! The order: by percent-encoded key (byte order), then by decoded value in UTF-16 code unit
//! order (Java `String.compareTo`). Most requests are sorted by the packed first seven key
//! bytes alone. Parameters whose first seven key bytes agree are compared in full: directly
//! when they are few enough that this is cheap, otherwise by order-preserving copies of their
//! decoded keys and values ([`KEY_ORDER`], [`VALUE_ORDER`]) sorted seven bytes at a time with
//! common prefixes skipped, so that long shared prefixes, hostile or not, are read once
//! rather than once per comparison.

use core::cmp::Ordering;

use super::{is_unreserved, Decoded, Form, Param, View, UNRESERVED};

/// Sorts `params` (of the raw `query`) into canonical order and marks each parameter whose
/// key equals the previous one's ([`Param::repeats_key`]).
pub(super) fn sort(query: &[u8], params: &mut [Param]) {
    sort_with(query, params, Size::is_cheap_to_compare);
}

/// [`sort`], with runs that `is_cheap` sorted directly and the others by normalized text
/// (tests force one way or the other).
fn sort_with(query: &[u8], params: &mut [Param], is_cheap: fn(Size) -> bool) {
    params.sort_unstable_by_key(|p| p.key_prefix);
    // Runs of equal prefixes: the cheap ones sorted now, the size of the largest other noted.
    let mut largest: Option<Size> = None;
    let mut start = 0;
    while start < params.len() {
        let end = run_end(params, start);
        let run = &mut params[start..end];
        if run.len() > 1 {
            let size = Size::of(run);
            if is_cheap(size) {
                sort_directly(query, run);
            } else {
                largest = Some(largest.map_or(size, |l| l.max(size)));
            }
        }
        start = end;
    }
    let Some(largest) = largest else { return };
    let mut scratch = Scratch::with_capacity(largest);
    let mut start = 0;
    while start < params.len() {
        let end = run_end(params, start);
        let run = &mut params[start..end];
        if run.len() > 1 && !is_cheap(Size::of(run)) {
            scratch.sort(query, run);
        }
        start = end;
    }
}

/// The end of the run of parameters with the key prefix of `params[start]`.
fn run_end(params: &[Param], start: usize) -> usize {
    let prefix = params[start].key_prefix;
    start
        + params[start..]
            .iter()
            .take_while(|p| p.key_prefix == prefix)
            .count()
}

/// How many parameters a run has, and how long they are (raw bytes, key and value).
#[derive(Clone, Copy, Debug)]
struct Size {
    count: usize,
    bytes: usize,
    longest: usize,
}

impl Size {
    fn of(run: &[Param]) -> Self {
        let len = |p: &Param| (p.value_end - p.key_start) as usize;
        Self {
            count: run.len(),
            bytes: run.iter().map(len).sum(),
            longest: run.iter().map(len).max().unwrap_or(0),
        }
    }

    /// Whether comparing the run directly costs about a read of its bytes at worst: every
    /// pair compared (insertion sort) over the longest parameter, within the run's bytes plus
    /// a few dozen. Always so for 2 or 3 parameters, never for many.
    fn is_cheap_to_compare(self) -> bool {
        let pairs = self.count * (self.count - 1) / 2;
        pairs.saturating_mul(self.longest) <= self.bytes + 64
    }

    fn max(self, other: Self) -> Self {
        Self {
            count: self.count.max(other.count),
            bytes: self.bytes.max(other.bytes),
            longest: self.longest.max(other.longest),
        }
    }
}

/// Sorts a small run by comparing raw parameters, decoding as it goes.
fn sort_directly(query: &[u8], run: &mut [Param]) {
    run.sort_unstable_by(|a, b| compare(a.view(query), b.view(query)));
    for i in 1..run.len() {
        let (previous, param) = (run[i - 1].view(query), run[i].view(query));
        run[i].repeats_key =
            previous.key == param.key || compare_keys(previous, param) == Ordering::Equal;
    }
}

/// Buffers for sorting runs by their normalized text, allocated once for all runs.
struct Scratch {
    entries: Vec<Entry>,
    /// Every entry's normalized key, then its normalized value.
    text: Vec<u8>,
    tasks: Vec<Task>,
}

/// A parameter with its normalized key and value in [`Scratch::text`].
#[derive(Clone, Copy)]
struct Entry {
    /// Sort key at the current depth ([`chunk`]).
    chunk: u64,
    start: u32,
    key_len: u32,
    value_len: u32,
    param: Param,
}

/// Which normalized text of an entry is being sorted.
#[derive(Clone, Copy)]
enum Part {
    Key,
    Value,
}

impl Part {
    fn of<'t>(self, entry: &Entry, text: &'t [u8]) -> &'t [u8] {
        let start = entry.start as usize;
        let key_end = start + entry.key_len as usize;
        let range = match self {
            Self::Key => start..key_end,
            Self::Value => key_end..key_end + entry.value_len as usize,
        };
        text.get(range).unwrap_or_default()
    }
}

/// Entries `start..end` share their first `depth` bytes and still need sorting.
#[derive(Clone, Copy)]
struct Task {
    start: usize,
    end: usize,
    depth: usize,
}

impl Scratch {
    fn with_capacity(largest: Size) -> Self {
        Self {
            entries: Vec::with_capacity(largest.count),
            // Decoding never lengthens: normalized text is at most the raw bytes.
            text: Vec::with_capacity(largest.bytes),
            tasks: Vec::new(),
        }
    }

    /// Sorts a run by its normalized keys, each group of equal keys by normalized values.
    fn sort(&mut self, query: &[u8], run: &mut [Param]) {
        let Self {
            entries,
            text,
            tasks,
        } = self;
        entries.clear();
        text.clear();
        for param in run.iter() {
            let view = param.view(query);
            let start = text.len();
            normalize(view.key, view.key_form, &KEY_ORDER, text);
            let key_end = text.len();
            normalize(view.value, view.value_form, &VALUE_ORDER, text);
            // Offsets fit: the run is part of a query of at most MAX_QUERY_LEN bytes.
            let at = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
            entries.push(Entry {
                chunk: 0,
                start: at(start),
                key_len: at(key_end - start),
                value_len: at(text.len() - key_end),
                param: *param,
            });
        }
        sort_by_text(entries, text, Part::Key, tasks);
        let mut start = 0;
        while start < entries.len() {
            let key = Part::Key.of(&entries[start], text);
            let end = start
                + entries[start..]
                    .iter()
                    .take_while(|e| Part::Key.of(e, text) == key)
                    .count();
            sort_by_text(&mut entries[start..end], text, Part::Value, tasks);
            for (i, entry) in (start..end).zip(&entries[start..end]) {
                run[i] = Param {
                    repeats_key: i > start,
                    ..entry.param
                };
            }
            start = end;
        }
    }
}

/// Appends the decoded bytes of `raw`, each mapped through `order`.
fn normalize(raw: &[u8], form: Form, order: &[u8; 256], out: &mut Vec<u8>) {
    match form {
        Form::Unreserved | Form::Plain => out.extend(raw.iter().map(|&b| order[usize::from(b)])),
        Form::Escaped | Form::CanonicalEscaped => {
            out.extend(Decoded::new(raw).map(|b| order[usize::from(b)]));
        }
    }
}

/// Sorts `entries` by the byte order of one part of their normalized text: a most significant
/// digit first sort whose digits are seven bytes, after skipping the prefix a whole group
/// shares. Each byte of text is read about once by the prefix skip and once in a chunk; the
/// chunk sorts cost n log n over all levels (a group splits before it goes a level deeper).
fn sort_by_text(entries: &mut [Entry], text: &[u8], part: Part, tasks: &mut Vec<Task>) {
    tasks.clear();
    tasks.push(Task {
        start: 0,
        end: entries.len(),
        depth: 0,
    });
    while let Some(Task { start, end, depth }) = tasks.pop() {
        let Some(group) = entries.get_mut(start..end) else {
            continue;
        };
        let Some((first, rest)) = group.split_first() else {
            continue;
        };
        if rest.is_empty() {
            continue;
        }
        // Every text of the group is at least `depth` long and agrees on those bytes.
        let first = part.of(first, text).get(depth..).unwrap_or_default();
        let mut shared = first;
        for entry in rest {
            let other = part.of(entry, text).get(depth..).unwrap_or_default();
            shared = &shared[..common_prefix_len(shared, other)];
            if shared.is_empty() {
                break;
            }
        }
        let depth = depth + shared.len();
        for entry in group.iter_mut() {
            entry.chunk = chunk(part.of(entry, text), depth);
        }
        group.sort_unstable_by_key(|e| e.chunk);
        let mut i = 0;
        while i < group.len() {
            let chunk = group[i].chunk;
            let equal = group[i..].iter().take_while(|e| e.chunk == chunk).count();
            // Equal chunks of texts that go on: sort them by what follows.
            if equal > 1 && chunk & 0xFF == 8 {
                tasks.push(Task {
                    start: start + i,
                    end: start + i + equal,
                    depth: depth + 7,
                });
            }
            i += equal;
        }
    }
}

/// The sort key of `text` at `depth`: its next 7 bytes (big-endian, zeros past the end), then
/// how many bytes are left, capped at 8. Texts sharing their first `depth` bytes sort as
/// their keys do; equal keys mean equal texts, unless both have 8 or more bytes left.
fn chunk(text: &[u8], depth: usize) -> u64 {
    let rest = text.get(depth..).unwrap_or_default();
    let n = rest.len().min(7);
    let mut bytes = [0u8; 8];
    bytes[..n].copy_from_slice(&rest[..n]);
    u64::from_be_bytes(bytes) | rest.len().min(8) as u64
}

/// How many leading bytes `a` and `b` share.
fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    let len = a.len().min(b.len());
    let (a, b) = (&a[..len], &b[..len]);
    let mut i = 0;
    // 32 bytes at a time (vector compares), then a word at a time to find the byte.
    while i + 32 <= len && a[i..i + 32] == b[i..i + 32] {
        i += 32;
    }
    let word = |s: &[u8]| {
        let mut w = [0u8; 8];
        w.copy_from_slice(s);
        u64::from_le_bytes(w)
    };
    while i + 8 <= len {
        let diff = word(&a[i..i + 8]) ^ word(&b[i..i + 8]);
        if diff != 0 {
            return i + (diff.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + a[i..]
        .iter()
        .zip(&b[i..])
        .take_while(|(x, y)| x == y)
        .count()
}

/// Each decoded key byte's place in the encoded order ([`key_rank`]), as a byte: the 190
/// bytes that are escaped (`%XX` sorts first) in byte order, then the 66 unreserved ones in
/// byte order. Byte order of mapped keys is the encoded order of the keys.
const KEY_ORDER: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut escaped = 0;
    let mut unreserved = 0;
    let mut b = 0;
    while b < 256 {
        if !UNRESERVED[b] {
            escaped += 1;
        }
        b += 1;
    }
    let escaped_total = escaped;
    escaped = 0;
    b = 0;
    while b < 256 {
        if UNRESERVED[b] {
            table[b] = (escaped_total + unreserved) as u8;
            unreserved += 1;
        } else {
            table[b] = escaped as u8;
            escaped += 1;
        }
        b += 1;
    }
    table
};

/// Decoded value bytes mapped so that byte order is UTF-16 order ([`utf16_byte_order`]): the
/// lead bytes of supplementary characters (F0..=F4) move before those of U+E000..=U+FFFF
/// (EE, EF); every other byte stays.
const VALUE_ORDER: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b {
            0xEE | 0xEF => b + 5,
            0xF0..=0xF4 => b - 2,
            _ => b,
        } as u8;
        b += 1;
    }
    table
};

/// The product's order of two parameters.
pub(super) fn compare(a: View<'_>, b: View<'_>) -> Ordering {
    compare_keys(a, b).then_with(|| compare_values(a, b))
}

/// Byte order of the encoded keys, computed on decoded bytes ([`key_rank`]).
fn compare_keys(a: View<'_>, b: View<'_>) -> Ordering {
    let rank = key_rank;
    match a.key_form.max(b.key_form) {
        Form::Unreserved => bytewise(a.key, b.key),
        Form::Plain => a
            .key
            .iter()
            .map(|&x| rank(x))
            .cmp(b.key.iter().map(|&x| rank(x))),
        Form::Escaped | Form::CanonicalEscaped => Decoded::new(a.key)
            .map(rank)
            .cmp(Decoded::new(b.key).map(rank)),
    }
}

/// A decoded key byte's place in the encoded order: an encoded byte starts with `%` (0x25),
/// which sorts before every unreserved character, and `%XX` with upper-case hex sorts like
/// the byte itself. So rank = (unreserved?, byte), 9 bits.
fn key_rank(byte: u8) -> u16 {
    (u16::from(is_unreserved(byte)) << 8) | u16::from(byte)
}

/// The ranks of a key's first 7 decoded bytes, 9 bits each, missing bytes as 0. Keys whose
/// prefixes differ sort as their prefixes do; equal prefixes need the full comparison.
pub(super) fn key_prefix(raw: &[u8], form: Form) -> u64 {
    fn pack(mut bytes: impl Iterator<Item = u8>) -> u64 {
        (0..7).fold(0u64, |prefix, _| {
            (prefix << 9) | bytes.next().map_or(0, |b| u64::from(key_rank(b)))
        })
    }
    match form {
        Form::Escaped | Form::CanonicalEscaped => pack(Decoded::new(raw)),
        _ => pack(raw.iter().copied()),
    }
}

/// Byte order of two short slices, inline (a `memcmp` call costs more than these keys).
fn bytewise(a: &[u8], b: &[u8]) -> Ordering {
    match a.iter().zip(b).find(|(x, y)| x != y) {
        Some((x, y)) => x.cmp(y),
        None => a.len().cmp(&b.len()),
    }
}

/// UTF-16 order on valid UTF-8: byte order, except that a character U+E000..=U+FFFF (lead
/// byte EE or EF) sorts after a supplementary character (lead F0..=F4, a surrogate pair in
/// UTF-16). Anywhere else the first differing byte decides exactly as in code point order.
fn compare_values(a: View<'_>, b: View<'_>) -> Ordering {
    if a.value_form.max(b.value_form) < Form::Escaped {
        return match a.value.iter().zip(b.value).position(|(x, y)| x != y) {
            Some(i) => utf16_byte_order(a.value[i], b.value[i]),
            None => a.value.len().cmp(&b.value.len()),
        };
    }
    let mut a = Decoded::new(a.value);
    let mut b = Decoded::new(b.value);
    loop {
        match (a.next(), b.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x == y => {}
            (Some(x), Some(y)) => return utf16_byte_order(x, y),
        }
    }
}

/// The order of two UTF-8 strings whose first difference is the bytes `x` ≠ `y`.
fn utf16_byte_order(x: u8, y: u8) -> Ordering {
    let high_bmp = |c: u8| matches!(c, 0xEE | 0xEF);
    let supplementary = |c: u8| matches!(c, 0xF0..=0xF4);
    if high_bmp(x) && supplementary(y) {
        Ordering::Greater
    } else if supplementary(x) && high_bmp(y) {
        Ordering::Less
    } else {
        x.cmp(&y)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;
    use crate::query::{classify, parse_into, write, ParamList};

    #[test]
    fn key_order_is_the_encoded_order() {
        for x in 0..=255u8 {
            for y in 0..=255u8 {
                let (mx, my) = (KEY_ORDER[usize::from(x)], KEY_ORDER[usize::from(y)]);
                assert_eq!(
                    mx.cmp(&my),
                    key_rank(x).cmp(&key_rank(y)),
                    "{x:#04x} {y:#04x}"
                );
            }
        }
    }

    #[test]
    fn value_order_is_utf16_order() {
        for x in 0..=255u8 {
            for y in 0..=255u8 {
                let (mx, my) = (VALUE_ORDER[usize::from(x)], VALUE_ORDER[usize::from(y)]);
                let expected = if x == y {
                    Ordering::Equal
                } else {
                    utf16_byte_order(x, y)
                };
                assert_eq!(mx.cmp(&my), expected, "{x:#04x} {y:#04x}");
            }
        }
    }

    #[test]
    fn chunks_order_texts_with_a_shared_prefix() {
        // Shorter first; a zero byte is not the end of the text; 8 or more left continues.
        let texts: [&[u8]; 6] = [b"ab", b"ab\0", b"ab\0\0", b"abc", b"abcdefgh", b"abcdefghi"];
        for pair in texts.windows(2) {
            assert!(chunk(pair[0], 1) < chunk(pair[1], 1), "{pair:?}");
        }
        assert_eq!(chunk(b"xabcdefgh", 1), chunk(b"xabcdefgz", 1));
        assert_eq!(chunk(b"xabcdefgh", 1) & 0xFF, 8);
        assert_eq!(chunk(b"x", 1), 0);
    }

    #[test]
    fn common_prefix_len_finds_the_first_difference() {
        let a: Vec<u8> = (0..100).collect();
        for i in 0..100 {
            let mut b = a.clone();
            b[i] ^= 1;
            assert_eq!(common_prefix_len(&a, &b), i);
            assert_eq!(common_prefix_len(&a[..i], &b), i);
        }
        assert_eq!(common_prefix_len(&a, &a), 100);
    }

    /// `texts` sorted by [`sort_by_text`] (as keys), from the reverse of their order.
    fn sorted_by_text(texts: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut text = Vec::new();
        let mut entries = Vec::new();
        for t in texts.iter().rev() {
            entries.push(Entry {
                chunk: 0,
                start: text.len() as u32,
                key_len: t.len() as u32,
                value_len: 0,
                param: Param::EMPTY,
            });
            text.extend_from_slice(t);
        }
        sort_by_text(&mut entries, &text, Part::Key, &mut Vec::new());
        entries
            .iter()
            .map(|e| Part::Key.of(e, &text).to_vec())
            .collect()
    }

    #[test]
    fn sort_by_text_sorts_every_short_binary_text() {
        // Every text of up to 11 bytes over {0, 1}: a difference at every depth, zero bytes,
        // texts that are prefixes of others.
        let mut texts: Vec<Vec<u8>> = vec![Vec::new()];
        for len in 1..=11 {
            for bits in 0..1u32 << len {
                texts.push((0..len).map(|i| (bits >> i & 1) as u8).collect());
            }
        }
        let mut expected = texts.clone();
        expected.sort();
        assert_eq!(sorted_by_text(&texts), expected);
    }

    /// Characters with every spelling a query may give them: raw, escaped in upper and lower
    /// case, `+`; chosen so that UTF-16 and UTF-8 orders disagree (U+FFFD, U+E000 against
    /// U+1F600, U+10000) and so that encoded and decoded orders disagree (`:` against `0`).
    const SPELLINGS: &[&[&str]] = &[
        &["a", "%61"],
        &["A", "%41"],
        &["0", "%30"],
        &["~", "%7E", "%7e"],
        &[" ", "+", "%20"],
        &[":", "%3A", "%3a"],
        &["%25"],
        &["%00"],
        &["é", "%C3%A9", "%c3%a9"],
        &["\u{FFFD}", "%EF%BF%BD"],
        &["\u{E000}", "%EE%80%80", "%ee%80%80"],
        &["\u{1F600}", "%F0%9F%98%80"],
        &["\u{10000}", "%F0%90%80%80"],
    ];

    /// A character (index into [`SPELLINGS`]) and which of its spellings to use.
    fn units(len: core::ops::Range<usize>) -> impl Strategy<Value = Vec<(usize, usize)>> {
        vec((0..SPELLINGS.len(), 0..3usize), len)
    }

    fn spell(units: &[(usize, usize)]) -> String {
        units
            .iter()
            .map(|&(c, s)| SPELLINGS[c][s % SPELLINGS[c].len()])
            .collect()
    }

    /// Two components sharing a decoded prefix, spelled differently, then each its own tail
    /// (often empty, so the two are often equal after decoding).
    fn pair() -> impl Strategy<Value = (String, String)> {
        (units(0..12), 0..3usize, units(0..3), units(0..3)).prop_map(|(shared, shift, a, b)| {
            let respelled: Vec<_> = shared.iter().map(|&(c, s)| (c, s + shift)).collect();
            (
                spell(&[shared, a].concat()),
                spell(&[respelled, b].concat()),
            )
        })
    }

    fn view<'a>(key: &'a str, value: &'a str) -> View<'a> {
        View {
            key: key.as_bytes(),
            value: value.as_bytes(),
            key_form: classify(key.as_bytes(), 0).unwrap(),
            value_form: classify(value.as_bytes(), 0).unwrap(),
        }
    }

    fn normalized(raw: &str, order: &[u8; 256]) -> Vec<u8> {
        let mut out = Vec::new();
        normalize(
            raw.as_bytes(),
            classify(raw.as_bytes(), 0).unwrap(),
            order,
            &mut out,
        );
        out
    }

    /// All parameters of `query` in the order `sort` gives them after starting from the
    /// reverse of it, each run sorted the way `is_cheap` says; as the canonical query string.
    fn canonical_with(query: &str, is_cheap: fn(Size) -> bool) -> String {
        let mut params = ParamList::new();
        parse_into(query, &mut params).unwrap();
        let params = params.as_mut_slice();
        params.reverse();
        for param in params.iter_mut() {
            param.repeats_key = false;
        }
        sort_with(query.as_bytes(), params, is_cheap);
        let mut out = Vec::new();
        write(query, params, &mut out);
        String::from_utf8(out).unwrap()
    }

    proptest! {
        /// Texts made of long shared pieces, each mutated in one byte, sort as slices do.
        #[test]
        fn sort_by_text_sorts_like_slices(
            pieces in vec(vec(0..3u8, 0..20), 1..4),
            texts in vec((vec(0..4usize, 0..4), 0..30usize, 0..3u8), 0..60),
        ) {
            let texts: Vec<Vec<u8>> = texts
                .iter()
                .map(|(which, at, byte)| {
                    let mut text: Vec<u8> =
                        which.iter().flat_map(|&w| pieces[w % pieces.len()].clone()).collect();
                    if let Some(b) = text.get_mut(*at) {
                        *b = *byte;
                    }
                    text
                })
                .collect();
            let mut expected = texts.clone();
            expected.sort();
            prop_assert_eq!(sorted_by_text(&texts), expected);
        }

        /// Normalized keys and values, compared as bytes, order parameters exactly as the
        /// general comparison of raw text does.
        #[test]
        fn normalized_text_orders_as_the_general_comparison(
            (key_a, key_b) in pair(),
            (value_a, value_b) in pair(),
        ) {
            let general = compare(view(&key_a, &value_a), view(&key_b, &value_b));
            let fast = normalized(&key_a, &KEY_ORDER)
                .cmp(&normalized(&key_b, &KEY_ORDER))
                .then_with(|| {
                    normalized(&value_a, &VALUE_ORDER).cmp(&normalized(&value_b, &VALUE_ORDER))
                });
            prop_assert_eq!(fast, general);
        }

        /// Sorting every run by normalized text gives the canonical query that comparing
        /// every run directly gives, and so does the default choice between the two.
        #[test]
        fn both_sorts_give_the_same_canonical_query(
            prefixes in vec(units(0..14), 1..4),
            params in vec((0..4usize, units(0..3), 0..3usize, units(0..3), 0..3usize), 0..40),
        ) {
            // Keys and values built from a few long shared prefixes, so that many parameters
            // agree on their first 7 key bytes, respelled and with short tails.
            let respell = |units: &[(usize, usize)], shift: usize| -> Vec<(usize, usize)> {
                units.iter().map(|&(c, s)| (c, s + shift)).collect()
            };
            let query = params
                .iter()
                .map(|(prefix, key_tail, key_shift, value_tail, value_shift)| {
                    let prefix = &prefixes[prefix % prefixes.len()];
                    let key = [respell(prefix, *key_shift), key_tail.clone()].concat();
                    let value = [respell(prefix, *value_shift), value_tail.clone()].concat();
                    format!("{}={}", spell(&key), spell(&value))
                })
                .collect::<Vec<_>>()
                .join("&");
            let direct = canonical_with(&query, |_| true);
            prop_assert_eq!(&canonical_with(&query, |_| false), &direct);
            prop_assert_eq!(&canonical_with(&query, Size::is_cheap_to_compare), &direct);
        }
    }
}
