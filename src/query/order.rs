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

use super::{is_unreserved, unit_at, Decoded, DecodedBlocks, Form, Param, View, UNRESERVED};

/// Sorts `params` (of the raw `query`) into canonical order and marks each parameter whose
/// key equals the previous one's ([`Param::repeats_key`]).
pub(super) fn sort(query: &[u8], params: &mut [Param]) {
    if params.len() > 1 {
        sort_with(query, params, Size::is_cheap_to_compare);
    }
}

/// [`sort`], with runs that `is_cheap` sorted directly and the others by normalized text
/// (tests force one way or the other).
fn sort_with(query: &[u8], params: &mut [Param], is_cheap: fn(Size) -> bool) {
    params.sort_unstable_by_key(|p| p.key_prefix);
    // Keys of ordinary requests differ in their first bytes: the runs start at the first
    // pair of equal prefixes, if any.
    let Some(mut start) = params
        .windows(2)
        .position(|pair| pair[0].key_prefix == pair[1].key_prefix)
    else {
        return;
    };
    // Runs of equal prefixes: the cheap ones sorted now, the others counted.
    let mut heavy = Size::default();
    while start < params.len() {
        let end = run_end(params, start);
        let run = &mut params[start..end];
        if run.len() > 1 {
            let size = Size::of(run);
            if is_cheap(size) {
                sort_directly(query, run);
            } else {
                heavy.count += size.count;
                heavy.bytes += size.bytes;
            }
        }
        start = end;
    }
    if heavy.count > 0 {
        sort_by_normalized_text(query, params, is_cheap, heavy);
    }
}

/// Calls `f` with each run of parameters with equal key prefixes that `is_cheap` refuses.
fn for_each_heavy_run(
    params: &mut [Param],
    is_cheap: fn(Size) -> bool,
    mut f: impl FnMut(&mut [Param]),
) {
    let mut start = 0;
    while start < params.len() {
        let end = run_end(params, start);
        let run = &mut params[start..end];
        if run.len() > 1 && !is_cheap(Size::of(run)) {
            f(run);
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
#[derive(Clone, Copy, Debug, Default)]
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

/// Sorts the runs `is_cheap` refuses (`total` their size) by normalized text: keys by
/// [`KEY_ORDER`], then each group of equal keys by values mapped by [`VALUE_ORDER`].
///
/// Text already in normalized form is not copied: keys when every key of the run is made of
/// unreserved bytes (their byte order is the encoded order), values made of unreserved bytes
/// (ASCII, which [`VALUE_ORDER`] keeps). The rest is decoded and mapped into one buffer for
/// all runs, at most as long as the raw text.
fn sort_by_normalized_text(
    query: &[u8],
    params: &mut [Param],
    is_cheap: fn(Size) -> bool,
    total: Size,
) {
    let mut arena = Vec::with_capacity(total.bytes);
    let mut entries = Vec::with_capacity(total.count);
    for_each_heavy_run(params, is_cheap, |run| {
        let keys_as_they_are = run.iter().all(|p| p.key_form == Form::Unreserved);
        for param in run.iter() {
            let view = param.view(query);
            let key = if keys_as_they_are {
                Span::in_query(param.key_start, view.key)
            } else {
                Span::normalized(view.key, &KEY_ORDER, &mut arena)
            };
            let value = if view.value_form == Form::Unreserved {
                Span::in_query(param.value_end - view.value.len() as u32, view.value)
            } else {
                Span::normalized(view.value, &VALUE_ORDER, &mut arena)
            };
            entries.push(Entry {
                key,
                value,
                param: *param,
            });
        }
    });
    let texts = Texts {
        query,
        arena: &arena,
    };
    let mut slots: Vec<Slot<'_>> = entries
        .iter()
        .zip(0u32..)
        .map(|(entry, index)| Slot {
            chunk: 0,
            text: texts.get(entry.key),
            entry: index,
        })
        .collect();
    let mut tasks = Vec::new();
    let mut offset = 0;
    for_each_heavy_run(params, is_cheap, |run| {
        let Some(slots) = slots.get_mut(offset..offset + run.len()) else {
            return;
        };
        offset += run.len();
        sort_by_text(slots, &mut tasks);
        let mut start = 0;
        while start < slots.len() {
            let key = slots[start].text;
            let end = start + slots[start..].iter().take_while(|s| s.text == key).count();
            let group = &mut slots[start..end];
            if group.len() > 1 {
                for slot in group.iter_mut() {
                    slot.text = texts.get(entries[slot.entry as usize].value);
                }
                sort_by_text(group, &mut tasks);
            }
            for (i, slot) in (start..end).zip(group.iter()) {
                run[i] = Param {
                    repeats_key: i > start,
                    ..entries[slot.entry as usize].param
                };
            }
            start = end;
        }
    });
}

/// Where a normalized text is: in the query (as it is) or in the buffer of normalized text.
#[derive(Clone, Copy)]
struct Span {
    /// The top bit says "in the buffer"; offsets fit in the rest (queries are at most
    /// MAX_QUERY_LEN bytes).
    start: u32,
    len: u32,
}

impl Span {
    const IN_ARENA: u32 = 1 << 31;

    fn in_query(start: u32, text: &[u8]) -> Self {
        Self {
            start,
            len: text.len() as u32,
        }
    }

    /// Appends the decoded bytes of `raw`, each mapped through `order`, to `arena`.
    fn normalized(raw: &[u8], order: &[u8; 256], arena: &mut Vec<u8>) -> Self {
        let start = arena.len();
        normalize(raw, order, arena);
        Self {
            start: start as u32 | Self::IN_ARENA,
            len: (arena.len() - start) as u32,
        }
    }
}

/// The query and the buffer of normalized text, which [`Span`]s point into.
#[derive(Clone, Copy)]
struct Texts<'t> {
    query: &'t [u8],
    arena: &'t [u8],
}

impl<'t> Texts<'t> {
    fn get(self, span: Span) -> &'t [u8] {
        let (text, start) = if span.start & Span::IN_ARENA != 0 {
            (self.arena, span.start & !Span::IN_ARENA)
        } else {
            (self.query, span.start)
        };
        let start = start as usize;
        text.get(start..start + span.len as usize)
            .unwrap_or_default()
    }
}

/// A parameter of a run being sorted, with its key and value.
#[derive(Clone, Copy)]
struct Entry {
    key: Span,
    value: Span,
    param: Param,
}

/// What the sort moves: an entry, the text it is sorted by, and its sort key at the current
/// depth ([`chunk`]).
#[derive(Clone, Copy)]
struct Slot<'t> {
    chunk: u64,
    text: &'t [u8],
    entry: u32,
}

/// Slots `start..end` share their first `depth` bytes and still need sorting.
#[derive(Clone, Copy)]
struct Task {
    start: usize,
    end: usize,
    depth: usize,
}

/// Appends the decoded bytes of `raw`, each mapped through `order`.
fn normalize(raw: &[u8], order: &[u8; 256], out: &mut Vec<u8>) {
    let mut blocks = DecodedBlocks::new(raw);
    let mut scratch = [0u8; 64];
    while let Some((decoded, _)) = blocks.next(&mut scratch) {
        out.extend(decoded.iter().map(|&b| order[usize::from(b)]));
    }
}

/// Sorts `slots` by the byte order of their text: a most significant digit first sort whose
/// digits are seven bytes, after skipping the prefix a whole group shares. Each byte of text
/// is read about once by the prefix skip and once in a chunk; the chunk sorts cost n log n
/// over all levels (a group splits before it goes a level deeper).
fn sort_by_text(slots: &mut [Slot<'_>], tasks: &mut Vec<Task>) {
    tasks.clear();
    tasks.push(Task {
        start: 0,
        end: slots.len(),
        depth: 0,
    });
    while let Some(Task { start, end, depth }) = tasks.pop() {
        let Some(group) = slots.get_mut(start..end) else {
            continue;
        };
        let Some((first, rest)) = group.split_first() else {
            continue;
        };
        if rest.is_empty() {
            continue;
        }
        // Every text of the group is at least `depth` long and agrees on those bytes.
        let mut shared = first.text.get(depth..).unwrap_or_default();
        for slot in rest {
            let other = slot.text.get(depth..).unwrap_or_default();
            shared = &shared[..common_prefix_len(shared, other)];
            if shared.is_empty() {
                break;
            }
        }
        let depth = depth + shared.len();
        for slot in group.iter_mut() {
            slot.chunk = chunk(slot.text, depth);
        }
        group.sort_unstable_by_key(|s| s.chunk);
        let mut i = 0;
        while i < group.len() {
            let chunk = group[i].chunk;
            let equal = group[i..].iter().take_while(|s| s.chunk == chunk).count();
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
#[inline(always)]
pub(super) fn key_prefix(raw: &[u8], form: Form) -> u64 {
    #[inline(always)]
    fn pack(mut bytes: impl Iterator<Item = u8>) -> u64 {
        (0..7).fold(0u64, |prefix, _| {
            (prefix << 9) | bytes.next().map_or(0, |b| u64::from(key_rank(b)))
        })
    }
    match form {
        Form::Escaped | Form::CanonicalEscaped => {
            // Branch-free unit by unit: hostile keys are escapes and plain bytes at random.
            let mut i = 0;
            pack(core::iter::from_fn(|| {
                let (byte, width) = unit_at(raw, i)?;
                i += width;
                Some(byte)
            }))
        }
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

    /// `texts` sorted by [`sort_by_text`], from the reverse of their order.
    fn sorted_by_text(texts: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut slots: Vec<Slot<'_>> = texts
            .iter()
            .rev()
            .map(|text| Slot {
                chunk: 0,
                text,
                entry: 0,
            })
            .collect();
        sort_by_text(&mut slots, &mut Vec::new());
        slots.iter().map(|s| s.text.to_vec()).collect()
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
        // Only validated components are normalized.
        classify(raw.as_bytes(), 0).unwrap();
        normalize(raw.as_bytes(), order, &mut out);
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
            // Key prefixes that differ order the parameters as the full comparison does.
            let (a, b) = (view(&key_a, &value_a), view(&key_b, &value_b));
            let prefixes = key_prefix(a.key, a.key_form).cmp(&key_prefix(b.key, b.key_form));
            if prefixes != Ordering::Equal {
                prop_assert_eq!(prefixes, general);
            }
            let decoded_prefix = |key: &str| {
                let mut ranks = Decoded::new(key.as_bytes()).map(key_rank);
                (0..7).fold(0u64, |p, _| (p << 9) | u64::from(ranks.next().unwrap_or(0)))
            };
            prop_assert_eq!(key_prefix(a.key, a.key_form), decoded_prefix(&key_a));
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
