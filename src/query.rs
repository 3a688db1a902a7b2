//! Query parameters as the canonical request sees them: split, strictly decoded, ordered and
//! re-encoded, all without materializing decoded strings.
//!
//! A parameter keeps its raw slices. Decoding (`+` → space, `%XX` → byte) is a per-unit map
//! and so is the canonical encoding (unreserved bytes kept, every other byte `%XX`), so keys
//! and values are compared and written by streaming over the raw text.

mod order;

use crate::error::Error;
use crate::extract::{is_jwt_key, QueryToken};
use crate::find::find_byte;
use crate::qsh::Sink;

/// Longest query accepted, in bytes (512 KiB). Longer queries are an error, not truncated.
pub const MAX_QUERY_LEN: usize = 512 * 1024;

/// Most query parameters accepted, counting every non-empty piece (`jwt` included): 10,000.
/// npm `atlassian-jwt` silently keeps only the first 1,000.
pub const MAX_PARAMS: usize = 10_000;

/// One `key=value` pair: where its raw (percent-encoded) key and value sit in the query.
///
/// Offsets rather than slices keep the inline list small (64 × 24 bytes), which matters
/// because it is built and moved on every request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Param {
    /// The key's first 7 encoded-order ranks, packed: most comparisons end here.
    key_prefix: u64,
    key_start: u32,
    key_end: u32,
    /// The value runs from just after the key's `=` to here; without a `=` this is
    /// `key_end` and the value is empty.
    value_end: u32,
    key_form: Form,
    value_form: Form,
    /// Once sorted: the key equals the previous parameter's, so only `,value` is written.
    repeats_key: bool,
}

impl Param {
    const EMPTY: Param = Param {
        key_prefix: 0,
        key_start: 0,
        key_end: 0,
        value_end: 0,
        key_form: Form::Unreserved,
        value_form: Form::Unreserved,
        repeats_key: false,
    };

    fn view<'q>(&self, query: &'q [u8]) -> View<'q> {
        let slice =
            |start: u32, end: u32| query.get(start as usize..end as usize).unwrap_or_default();
        let value_start = self.value_end.min(self.key_end.saturating_add(1));
        View {
            key: slice(self.key_start, self.key_end),
            value: slice(value_start, self.value_end),
            key_form: self.key_form,
            value_form: self.value_form,
        }
    }
}

/// A parameter's raw key and value, borrowed from the query.
#[derive(Clone, Copy)]
struct View<'q> {
    key: &'q [u8],
    value: &'q [u8],
    key_form: Form,
    value_form: Form,
}

/// Parameters kept inline up to this count, so ordinary requests need no allocation.
const INLINE_PARAMS: usize = 64;

/// The parameters of a request: inline for up to [`INLINE_PARAMS`], on the heap beyond.
// Inline on purpose: keeping ordinary queries off the heap is the point of this type.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub(crate) enum ParamList {
    Inline {
        len: usize,
        items: [Param; INLINE_PARAMS],
    },
    Heap(Vec<Param>),
}

impl ParamList {
    pub(crate) const fn new() -> Self {
        Self::Inline {
            len: 0,
            items: [Param::EMPTY; INLINE_PARAMS],
        }
    }

    #[inline(always)]
    fn push(&mut self, param: Param) {
        match self {
            Self::Inline { len, items } if *len < INLINE_PARAMS => {
                items[*len] = param;
                *len += 1;
            }
            Self::Inline { len, items } => {
                // Past the inline capacity: move to the heap, which grows from there.
                let mut heap = Vec::with_capacity(INLINE_PARAMS * 4);
                heap.extend_from_slice(&items[..*len]);
                heap.push(param);
                *self = Self::Heap(heap);
            }
            Self::Heap(heap) => heap.push(param),
        }
    }

    fn clear(&mut self) {
        match self {
            Self::Inline { len, .. } => *len = 0,
            Self::Heap(heap) => heap.clear(),
        }
    }

    pub(crate) fn as_slice(&self) -> &[Param] {
        match self {
            Self::Inline { len, items } => &items[..*len],
            Self::Heap(heap) => heap,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [Param] {
        match self {
            Self::Inline { len, items } => &mut items[..*len],
            Self::Heap(heap) => heap,
        }
    }
}

/// How much work a raw component needs; decides the fast paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Form {
    /// Only unreserved bytes: raw, decoded and encoded forms are the same bytes.
    Unreserved,
    /// No `%` and no `+`: the raw bytes are the decoded bytes.
    Plain,
    /// Has escapes or `+`: decode while reading.
    Escaped,
    /// Has escapes, but written exactly as the canonical encoding writes them (unreserved
    /// bytes and upper-case escapes of the others, as in `https%3A%2F%2F...`): decode while
    /// reading, write as it is.
    CanonicalEscaped,
}

/// Splits, validates and orders the parameters of a raw query (without the leading `?`).
///
/// Empty pieces (`a=1&&b=2`, a trailing `&`) are skipped; `k` alone is `k=`; the parameter
/// whose decoded name is exactly `jwt` is dropped, and its value returned, so that finding
/// the token costs no second pass over the query. Fills `params` in place (it is large).
pub(crate) fn parse_into<'q>(
    query: &'q str,
    params: &mut ParamList,
) -> Result<QueryToken<'q>, Error> {
    parse_pass(query, params).map(|(token, _)| token)
}

/// As [`parse_into`] for the query of a request target, which a `#` ends; returns the
/// token and the length of the query before its first `#`.
///
/// No separate scan for `#`: every byte of a query is a separator (`&`, a piece's first
/// `=`) or part of a key or value, which parsing reads anyway, noting any `#`. A query with
/// none (every query a server receives) is parsed once; one with a `#`, or whose parse
/// failed and that has a `#` (the error may come from after it), is parsed again up to
/// its `#`, so the result is exactly that of the query cut there.
pub(crate) fn parse_target_query<'q>(
    query: &'q str,
    params: &mut ParamList,
) -> Result<(QueryToken<'q>, usize), Error> {
    let first = parse_pass(query, params);
    if let Ok((token, false)) = first {
        return Ok((token, query.len()));
    }
    match find_byte(query.as_bytes(), b'#') {
        Some(hash) => {
            params.clear();
            parse_into(&query[..hash], params).map(|token| (token, hash))
        }
        None => first.map(|(token, _)| (token, query.len())),
    }
}

/// One parse of [`parse_into`]; also says whether any key or value held a `#`.
#[inline(always)]
fn parse_pass<'q>(query: &'q str, params: &mut ParamList) -> Result<(QueryToken<'q>, bool), Error> {
    if query.len() > MAX_QUERY_LEN {
        return Err(Error::QueryTooLong {
            len: query.len(),
            max: MAX_QUERY_LEN,
        });
    }
    let bytes = query.as_bytes();
    // Offsets fit: the query is at most MAX_QUERY_LEN bytes.
    let at = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
    let mut token = QueryToken::Absent;
    let mut seen = 0usize;
    let mut bytes_seen = 0u8;
    let mut next = 0usize;
    // `find_byte` rather than a byte loop: a `jwt` parameter alone is hundreds of bytes.
    while next <= query.len() {
        let offset = next;
        let end = find_byte(&bytes[offset..], b'&').map_or(query.len(), |i| offset + i);
        next = end + 1;
        let piece = &bytes[offset..end];
        if piece.is_empty() {
            continue;
        }
        seen += 1;
        if seen > MAX_PARAMS {
            return Err(Error::TooManyParameters { max: MAX_PARAMS });
        }
        let eq = piece.iter().position(|&b| b == b'=');
        let (key, value, value_offset) = match eq {
            Some(eq) => (&piece[..eq], &piece[eq + 1..], offset + eq + 1),
            None => (piece, &piece[piece.len()..], end),
        };
        let key_form = classify_noting(key, offset, &mut bytes_seen)?;
        if is_jwt_key(key) {
            // Dropped, but still a request the product could have parsed.
            let (escapes, hash) = escapes_or_hash(value);
            bytes_seen |= FRAGMENT_BIT * u8::from(hash);
            if escapes {
                validate(value, value_offset)?;
            }
            // Only `jwt=...` carries a token (a bare `jwt` is no value at all).
            if eq.is_some() {
                token.take(&query[value_offset..end]);
            }
            continue;
        }
        let value_form = classify_noting(value, value_offset, &mut bytes_seen)?;
        params.push(Param {
            key_prefix: order::key_prefix(key, key_form),
            key_start: at(offset),
            key_end: at(offset + key.len()),
            value_end: at(value_offset + value.len()),
            key_form,
            value_form,
            repeats_key: false,
        });
    }
    order::sort(bytes, params.as_mut_slice());
    Ok((token, bytes_seen & FRAGMENT_BIT != 0))
}

/// Writes `k1=v1,v2&k2=v3...` for the parameters of `query` sorted by [`parse_into`].
pub(crate) fn write(query: &str, params: &[Param], out: &mut impl Sink) {
    let query = query.as_bytes();
    for (i, param) in params.iter().enumerate() {
        let view = param.view(query);
        if param.repeats_key {
            out.put_byte(b',');
        } else {
            if i > 0 {
                out.put_byte(b'&');
            }
            write_component(view.key, view.key_form, out);
            out.put_byte(b'=');
        }
        write_component(view.value, view.value_form, out);
    }
}

/// RFC 3986 unreserved (`A-Z a-z 0-9 - . _ ~`): the only bytes the canonical encoding keeps.
const UNRESERVED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~');
        b += 1;
    }
    table
};

#[inline]
fn is_unreserved(b: u8) -> bool {
    UNRESERVED[usize::from(b)]
}

/// Writes the canonical encoding of a raw component: decoded, then every byte but the
/// unreserved ones as `%XX` (upper-case hex).
#[inline(always)]
fn write_component(raw: &[u8], form: Form, out: &mut impl Sink) {
    match form {
        Form::Unreserved | Form::CanonicalEscaped => out.put(raw),
        // Short (`a+b`), or not long with a few bytes to rewrite (`x%2Cy`): unit by unit,
        // which is fastest when the branches are predictable. Anything else, including text
        // mixing escapes and plain bytes at random: block by block, without such branches.
        Form::Plain | Form::Escaped
            if raw.len() < 16 || (raw.len() < 64 && !rewrites_more_than(raw, 4)) =>
        {
            write_short(raw, form, out);
        }
        Form::Plain | Form::Escaped => write_encoded(raw, out),
    }
}

/// Whether more than `n` bytes of `raw` are not written as they are (every byte but the
/// unreserved ones: escapes, `+`, reserved and non-ASCII bytes).
fn rewrites_more_than(raw: &[u8], n: usize) -> bool {
    raw.iter().filter(|&&b| !is_unreserved(b)).nth(n).is_some()
}

/// [`write_component`] for the short components of ordinary requests: runs already in
/// canonical form (unreserved bytes, upper-case escapes of bytes that stay escaped, as in
/// `https%3A%2F%2F`) go out in one piece, anything else unit by unit.
fn write_short(raw: &[u8], form: Form, out: &mut impl Sink) {
    let escapes = form == Form::Escaped;
    let mut i = 0;
    while i < raw.len() {
        let run_start = i;
        while let Some(&b) = raw.get(i) {
            if is_unreserved(b) {
                i += 1;
            } else if escapes && b == b'%' && is_canonical_escape(raw, i) {
                i += 3;
            } else {
                break;
            }
        }
        if i > run_start {
            out.put(&raw[run_start..i]);
            continue;
        }
        let (byte, width) = match raw[i] {
            b'+' if escapes => (b' ', 1),
            b'%' if escapes => match hex_pair(raw, i) {
                Some(byte) => (byte, 3),
                // `parse` already rejected this; encode the `%` itself rather than panic.
                None => (b'%', 1),
            },
            other => (other, 1),
        };
        if is_unreserved(byte) {
            out.put_byte(byte);
        } else {
            out.put(&ENCODED[usize::from(byte)][..3]);
        }
        i += width;
    }
}

/// Whether the `%` at `percent` starts an escape the canonical encoding writes the same way:
/// upper-case hex, of a byte that is not unreserved.
fn is_canonical_escape(raw: &[u8], percent: usize) -> bool {
    hex_pair(raw, percent).is_some_and(|byte| escape_is_canonical(raw, percent, byte))
}

/// [`is_canonical_escape`] for an escape already decoded to `byte`.
fn escape_is_canonical(raw: &[u8], percent: usize, byte: u8) -> bool {
    let upper_hex = |i: usize| matches!(raw.get(i), Some(b'0'..=b'9' | b'A'..=b'F'));
    upper_hex(percent + 1) && upper_hex(percent + 2) && !is_unreserved(byte)
}

/// Each byte's canonical encoding: itself if unreserved, else `%XX` (upper-case hex); the
/// first three bytes hold it (padded), the fourth its length.
const ENCODED: [[u8; 4]; 256] = {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut table = [[0u8; 4]; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = if UNRESERVED[b] {
            [b as u8, 0, 0, 1]
        } else {
            [b'%', HEX[b >> 4], HEX[b & 15], 3]
        };
        b += 1;
    }
    table
};

/// Writes the canonical encoding of the decoded bytes of a validated component.
fn write_encoded(raw: &[u8], out: &mut impl Sink) {
    let mut blocks = DecodedBlocks::new(raw);
    let mut scratch = [0u8; 64];
    let mut buf = [0u8; 3 * 64];
    while let Some((decoded, all_unreserved)) = blocks.next(&mut scratch) {
        if all_unreserved {
            out.put(decoded);
            continue;
        }
        // Every byte the same few instructions, escaped or not: no branch to mispredict.
        let mut len = 0;
        for &byte in decoded {
            let encoded = &ENCODED[usize::from(byte)];
            buf[len..len + 3].copy_from_slice(&encoded[..3]);
            len += usize::from(encoded[3]);
        }
        out.put(&buf[..len]);
    }
}

/// The decoded bytes of a validated raw component (`+` is a space, `%XX` the byte), 64 raw
/// bytes at a time.
///
/// A block without `%` or `+` is its own decoding. Any other block is decoded at every
/// position as if a unit started there, by arithmetic that vectorizes, and the positions that
/// do start a unit (those not one or two bytes after a `%`) are kept by a branch-free
/// compaction. So neither long escaped text nor a random mix of escapes and plain bytes costs
/// a branch per byte.
struct DecodedBlocks<'a> {
    raw: &'a [u8],
    pos: usize,
}

impl<'a> DecodedBlocks<'a> {
    fn new(raw: &'a [u8]) -> Self {
        Self { raw, pos: 0 }
    }

    /// The decoded bytes of the units that start in the next 64 raw bytes (the raw bytes
    /// themselves, or in `scratch`) and whether they are all unreserved (`false` when
    /// unsure); `None` at the end.
    fn next<'s>(&mut self, scratch: &'s mut [u8; 64]) -> Option<(&'s [u8], bool)>
    where
        'a: 's,
    {
        let rest = self.raw.get(self.pos..).unwrap_or_default();
        let len = rest.len().min(64);
        let block = rest.get(..len).filter(|b| !b.is_empty())?;
        // Separate reductions, each of which vectorizes.
        let escapes = block
            .iter()
            .fold(0u8, |any, &b| any | u8::from((b == b'%') | (b == b'+')));
        if escapes == 0 {
            let reserved = block
                .iter()
                .fold(0u8, |any, &b| any | u8::from(!unreserved(b)));
            self.pos += len;
            return Some((block, reserved == 0));
        }
        if len < 16 {
            // A few last bytes: unit by unit costs less than a window of 64.
            let mut n = 0;
            let mut i = self.pos;
            while let Some((byte, width)) = unit_at(self.raw, i) {
                scratch[n & 63] = byte;
                n += 1;
                i += width;
            }
            self.pos = i;
            return Some((scratch.get(..n).unwrap_or_default(), false));
        }
        // The block starts a unit, so neither byte before it is a `%`.
        let window = Window::at(self.raw, self.pos);
        let mut decoded = [0u8; 64];
        let mut starts = [0u8; 64];
        for (j, (d, start)) in decoded.iter_mut().zip(&mut starts).enumerate() {
            let [p2, p1, c, hi, lo] = window.lane(j);
            let escaped = (hex_digit_value(hi) << 4) | hex_digit_value(lo);
            let percent = 0u8.wrapping_sub(u8::from(c == b'%'));
            let plus = 0u8.wrapping_sub(u8::from(c == b'+'));
            *d = (escaped & percent) | (b' ' & plus) | (c & !(percent | plus));
            // A `%` always starts a unit (it is never a hex digit), and covers the next two.
            *start = u8::from((p1 != b'%') & (p2 != b'%'));
        }
        let mut starts = bitmask(&starts) & (u64::MAX >> (64 - len));
        let mut n = 0;
        while starts != 0 {
            let j = starts.trailing_zeros() as usize;
            scratch[n & 63] = decoded[j & 63];
            n += 1;
            starts &= starts - 1;
        }
        // The next unit starts after the block, or after an escape that runs past it.
        let overhang = if block[len - 1] == b'%' {
            2
        } else if len >= 2 && block[len - 2] == b'%' {
            1
        } else {
            0
        };
        self.pos += len + overhang;
        Some((scratch.get(..n).unwrap_or_default(), false))
    }
}

/// 64 bytes of a component from some position, with the two before and the two after:
/// fixed-width loops over it read every lane in bounds and vectorize.
///
/// Where the component has no such bytes the window holds `z`, which is neither `%` nor a
/// hex digit and is unreserved: a lane past the end judges nothing, and a `%` too close to
/// the end finds no hex digits after it.
struct Window([u8; 68]);

impl Window {
    fn at(raw: &[u8], pos: usize) -> Self {
        let mut bytes = [b'z'; 68];
        match pos
            .checked_sub(2)
            .and_then(|start| raw.get(start..start + 68))
        {
            Some(whole) => bytes.copy_from_slice(whole),
            None => {
                let start = pos.saturating_sub(2);
                let end = (pos + 66).min(raw.len());
                let from = 2 - (pos - start);
                if let (Some(dst), Some(src)) = (
                    bytes.get_mut(from..from + (end - start)),
                    raw.get(start..end),
                ) {
                    dst.copy_from_slice(src);
                }
            }
        }
        Self(bytes)
    }

    /// The two bytes before position `j` (0..64) of the window, it, and the two after.
    #[inline(always)]
    fn lane(&self, j: usize) -> [u8; 5] {
        let j = j & 63;
        [
            self.0[j],
            self.0[j + 1],
            self.0[j + 2],
            self.0[j + 3],
            self.0[j + 4],
        ]
    }
}

/// Bit `j` set where `flags[j]` is 1 (each flag 0 or 1): eight flags at a time gathered
/// into the top byte by one multiplication (the partial products never carry into it).
fn bitmask(flags: &[u8; 64]) -> u64 {
    flags
        .chunks_exact(8)
        .enumerate()
        .fold(0u64, |mask, (i, eight)| {
            let mut word = [0u8; 8];
            word.copy_from_slice(eight);
            let gathered = u64::from_le_bytes(word).wrapping_mul(0x0102_0408_1020_4080) >> 56;
            mask | (gathered << (8 * i))
        })
}

/// The decoded byte of the unit at `i` of a validated component and the unit's width (`%XX`
/// is the byte (3), `+` a space (1), any other byte itself (1)), with no branch on the bytes;
/// `None` past the end.
#[inline]
fn unit_at(raw: &[u8], i: usize) -> Option<(u8, usize)> {
    let c = *raw.get(i)?;
    let hi = raw.get(i + 1).copied().unwrap_or(0);
    let lo = raw.get(i + 2).copied().unwrap_or(0);
    let escaped = (hex_digit_value(hi) << 4) | hex_digit_value(lo);
    let percent = 0u8.wrapping_sub(u8::from(c == b'%'));
    let plus = 0u8.wrapping_sub(u8::from(c == b'+'));
    let byte = (escaped & percent) | (b' ' & plus) | (c & !(percent | plus));
    Some((byte, 1 + 2 * usize::from(percent & 1)))
}

/// A hex digit's value by arithmetic (`0-9`, `A-F`, `a-f`; anything for other bytes).
#[inline(always)]
fn hex_digit_value(c: u8) -> u8 {
    (c & 0x0F).wrapping_add(9 * ((c >> 6) & 1))
}

/// [`is_unreserved`] by arithmetic rather than a table, so that loops over many bytes
/// vectorize.
#[inline(always)]
fn unreserved(b: u8) -> bool {
    (b.wrapping_sub(b'0') < 10)
        | ((b | 0x20).wrapping_sub(b'a') < 26)
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
}

/// Byte classes for [`classify`]: one table lookup per byte tells both things it needs, and
/// both are "any byte has it" bits, so a single OR accumulates them.
const RESERVED_BIT: u8 = 1;
const ESCAPE_BIT: u8 = 2;
/// `#`, which ends the query of a request target ([`parse_target_query`]).
const FRAGMENT_BIT: u8 = 4;
const CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        if !UNRESERVED[b] {
            table[b] |= RESERVED_BIT;
        }
        if b == b'%' as usize || b == b'+' as usize {
            table[b] |= ESCAPE_BIT;
        }
        if b == b'#' as usize {
            table[b] |= FRAGMENT_BIT;
        }
        b += 1;
    }
    table
};

/// Classifies a raw component in one pass and, if it has escapes, checks every `%` escape
/// and that the decoded bytes are UTF-8.
#[cfg(test)]
fn classify(raw: &[u8], offset: usize) -> Result<Form, Error> {
    classify_noting(raw, offset, &mut 0)
}

/// [`classify`], ORing the classes of the bytes seen into `seen`.
#[inline]
fn classify_noting(raw: &[u8], offset: usize, seen: &mut u8) -> Result<Form, Error> {
    let any = raw.iter().fold(0u8, |any, &b| any | CLASS[usize::from(b)]);
    *seen |= any;
    if any & ESCAPE_BIT != 0 {
        return Ok(if validate(raw, offset)? {
            Form::CanonicalEscaped
        } else {
            Form::Escaped
        });
    }
    // A slice of a `&str` split at ASCII bytes: already UTF-8.
    Ok(if any & RESERVED_BIT == 0 {
        Form::Unreserved
    } else {
        Form::Plain
    })
}

/// Whether a raw component has a `%` or a `+` (it decodes to something else), and whether
/// it has a `#`. Written so it vectorizes: it runs over the whole `jwt` value.
fn escapes_or_hash(raw: &[u8]) -> (bool, bool) {
    // One fold for all three bytes (it vectorizes; a fold with two results does not), and
    // only a component that has one of them is looked at again.
    let any = raw.iter().fold(0u8, |any, &b| {
        any | u8::from((b == b'%') | (b == b'+') | (b == b'#'))
    });
    if any == 0 {
        return (false, false);
    }
    let escapes = raw
        .iter()
        .fold(0u8, |any, &b| any | u8::from((b == b'%') | (b == b'+')));
    (escapes != 0, raw.contains(&b'#'))
}

/// Checks every `%` escape and that the decoded bytes are UTF-8; says whether `raw` is
/// already in canonical form ([`Form::CanonicalEscaped`]; `false` when unsure).
///
/// `raw` is a slice of a `&str` cut at ASCII bytes, so it is UTF-8 already; escapes of ASCII
/// bytes (`%3A`, `+`) replace ASCII with ASCII and keep it so. Escapes of bytes of 0x80 or
/// above need the decoded text checked; an error needs the check unit by unit, which finds
/// the first error in text order.
fn validate(raw: &[u8], offset: usize) -> Result<bool, Error> {
    let short = raw.len() < 64;
    let escapes = if short {
        short_escapes(raw)
    } else {
        escapes(raw)
    };
    match escapes {
        Escapes::Ascii { canonical } => Ok(canonical),
        Escapes::NonAscii if !short && decodes_to_utf8(raw) => Ok(false),
        // Something is wrong: find the first error in text order.
        Escapes::NonAscii | Escapes::Malformed => validate_in_order(raw, offset).map(|()| false),
    }
}

/// What the `%` escapes of a component are.
enum Escapes {
    /// All well formed, all of ASCII bytes (which keep the text UTF-8); and whether the
    /// component is in canonical form.
    Ascii { canonical: bool },
    /// Some of bytes of 0x80 or above, so the decoded text may not be UTF-8 (all well formed,
    /// except that [`short_escapes`] stops looking at the first).
    NonAscii,
    /// Some `%` not followed by two hex digits.
    Malformed,
}

/// [`HEX`]: not a hex digit.
const HEX_NONE: u8 = 0x80;
/// [`HEX`]: a lower-case hex digit (`a`-`f`), which the canonical encoding never writes.
const HEX_LOWER: u8 = 0x10;
/// Each byte's value as a hex digit (low four bits), with [`HEX_LOWER`], or [`HEX_NONE`].
const HEX: [u8; 256] = {
    let mut table = [HEX_NONE; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'F' => c - b'A' + 10,
            b'a'..=b'f' => (c - b'a' + 10) | HEX_LOWER,
            _ => HEX_NONE,
        };
        b += 1;
    }
    table
};

/// [`escapes`] escape by escape, for components too short for blocks of 64 to pay (a few
/// dozen bytes cost a few dozen branches at most).
#[inline(always)]
fn short_escapes(raw: &[u8]) -> Escapes {
    let mut canonical = true;
    let mut i = 0;
    while i < raw.len() {
        if raw[i] != b'%' {
            canonical &= is_unreserved(raw[i]);
            i += 1;
            continue;
        }
        // Both digits by one table lookup each (the same verdicts as `hex_pair` and
        // `escape_is_canonical`, with fewer branches).
        let digit = |at: usize| raw.get(at).map_or(HEX_NONE, |&c| HEX[usize::from(c)]);
        let (hi, lo) = (digit(i + 1), digit(i + 2));
        if (hi | lo) & HEX_NONE != 0 {
            return Escapes::Malformed;
        }
        let byte = ((hi & 0x0F) << 4) | (lo & 0x0F);
        if byte >= 0x80 {
            // Short components are checked unit by unit from here (see `validate`), which
            // also finds any malformed escape after this one.
            return Escapes::NonAscii;
        }
        canonical &= ((hi | lo) & HEX_LOWER == 0) & !is_unreserved(byte);
        i += 3;
    }
    Escapes::Ascii { canonical }
}

/// The [`Escapes`] of a component, looking at every byte as the possible start of an escape,
/// 64 at a time and by arithmetic only, so that the loop vectorizes and a random mix of
/// escapes and plain bytes costs no mispredictions. Hex digits are unreserved, so judging the
/// digits of an escape as plain bytes changes nothing.
fn escapes(raw: &[u8]) -> Escapes {
    let (mut malformed, mut non_ascii, mut canonical) = (false, false, true);
    let mut pos = 0;
    while pos < raw.len() {
        let window = Window::at(raw, pos);
        for j in 0..64 {
            let [_, _, c, hi, lo] = window.lane(j);
            let percent = c == b'%';
            let hex = |d: u8| {
                (d.wrapping_sub(b'0') < 10)
                    | (d.wrapping_sub(b'A') < 6)
                    | (d.wrapping_sub(b'a') < 6)
            };
            malformed |= percent & !(hex(hi) & hex(lo));
            // `%0X` to `%7X` are escapes of ASCII bytes; `%8X` to `%FX` are not.
            let hi_value = hi.wrapping_sub(b'0');
            non_ascii |= percent & (hi_value >= 8);
            let lo_upper = (lo.wrapping_sub(b'0') < 10) | (lo.wrapping_sub(b'A') < 6);
            let byte = (hi_value << 4) | hex_digit_value(lo);
            let canonical_escape = lo_upper & !unreserved(byte);
            canonical &= (percent & canonical_escape) | (!percent & unreserved(c));
        }
        pos += 64;
    }
    if malformed {
        Escapes::Malformed
    } else if non_ascii {
        Escapes::NonAscii
    } else {
        Escapes::Ascii { canonical }
    }
}

/// Whether a component whose escapes are all well formed decodes to UTF-8: decoded block by
/// block and checked by the standard library, a character cut by the end of a block carried
/// into the next.
fn decodes_to_utf8(raw: &[u8]) -> bool {
    let mut blocks = DecodedBlocks::new(raw);
    let mut scratch = [0u8; 64];
    let mut text = [0u8; 64 + 3];
    let mut carried = 0;
    while let Some((decoded, _)) = blocks.next(&mut scratch) {
        let len = carried + decoded.len();
        text[carried..len].copy_from_slice(decoded);
        carried = match core::str::from_utf8(&text[..len]) {
            Ok(_) => 0,
            // Cut short by the end of the block (at most 3 bytes of one character).
            Err(error) if error.error_len().is_none() => {
                text.copy_within(error.valid_up_to()..len, 0);
                len - error.valid_up_to()
            }
            Err(_) => return false,
        };
    }
    carried == 0
}

/// [`validate`], decoding every unit and checking the UTF-8 of the result as it goes.
fn validate_in_order(raw: &[u8], offset: usize) -> Result<(), Error> {
    let mut utf8 = Utf8Check::default();
    let mut i = 0;
    while i < raw.len() {
        let byte = match raw[i] {
            b'%' => {
                let byte =
                    hex_pair(raw, i).ok_or(Error::InvalidPercentEncoding { offset: offset + i })?;
                i += 3;
                byte
            }
            b'+' => {
                i += 1;
                b' '
            }
            other => {
                i += 1;
                other
            }
        };
        if !utf8.push(byte) {
            return Err(Error::InvalidUtf8 { offset });
        }
    }
    if utf8.pending() {
        return Err(Error::InvalidUtf8 { offset });
    }
    Ok(())
}

fn hex_pair(raw: &[u8], percent: usize) -> Option<u8> {
    let hi = hex_value(*raw.get(percent + 1)?)?;
    let lo = hex_value(*raw.get(percent + 2)?)?;
    Some((hi << 4) | lo)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The decoded bytes of a validated raw component.
struct Decoded<'a> {
    raw: &'a [u8],
    pos: usize,
}

impl<'a> Decoded<'a> {
    fn new(raw: &'a [u8]) -> Self {
        Self { raw, pos: 0 }
    }
}

impl Iterator for Decoded<'_> {
    type Item = u8;

    #[inline]
    fn next(&mut self) -> Option<u8> {
        let b = *self.raw.get(self.pos)?;
        match b {
            b'+' => {
                self.pos += 1;
                Some(b' ')
            }
            b'%' => match hex_pair(self.raw, self.pos) {
                Some(byte) => {
                    self.pos += 3;
                    Some(byte)
                }
                None => {
                    self.pos += 1;
                    Some(b'%')
                }
            },
            other => {
                self.pos += 1;
                Some(other)
            }
        }
    }
}

/// An incremental UTF-8 validator (RFC 3629: no overlongs, no surrogates, at most U+10FFFF).
#[derive(Default)]
struct Utf8Check {
    /// Continuation bytes still expected.
    need: u8,
    /// Allowed range of the next continuation byte (narrower right after some lead bytes).
    lo: u8,
    hi: u8,
}

impl Utf8Check {
    fn push(&mut self, b: u8) -> bool {
        if self.need == 0 {
            let (need, lo, hi) = match b {
                0x00..=0x7F => return true,
                0xC2..=0xDF => (1, 0x80, 0xBF),
                0xE0 => (2, 0xA0, 0xBF),
                0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
                0xED => (2, 0x80, 0x9F),
                0xF0 => (3, 0x90, 0xBF),
                0xF1..=0xF3 => (3, 0x80, 0xBF),
                0xF4 => (3, 0x80, 0x8F),
                _ => return false,
            };
            *self = Self { need, lo, hi };
            return true;
        }
        if b < self.lo || b > self.hi {
            return false;
        }
        self.need -= 1;
        self.lo = 0x80;
        self.hi = 0xBF;
        true
    }

    fn pending(&self) -> bool {
        self.need != 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn canonical_query(q: &str) -> Result<String, Error> {
        let mut params = ParamList::new();
        parse_into(q, &mut params)?;
        let mut out: Vec<u8> = Vec::new();
        write(q, params.as_slice(), &mut out);
        Ok(String::from_utf8(out).unwrap_or_default())
    }

    #[test]
    fn utf8_check_agrees_with_std() {
        let samples: &[&[u8]] = &[
            b"abc",
            "é".as_bytes(),
            "😀".as_bytes(),
            "\u{E000}".as_bytes(),
            &[0xC0, 0x80],
            &[0xED, 0xA0, 0x80],
            &[0xF4, 0x90, 0x80, 0x80],
            &[0xE2, 0x82],
            &[0xFF],
            &[0xF0, 0x9F, 0x98],
        ];
        for s in samples {
            let mut check = Utf8Check::default();
            let ok = s.iter().all(|&b| check.push(b)) && !check.pending();
            assert_eq!(ok, core::str::from_utf8(s).is_ok(), "{s:?}");
        }
    }

    #[test]
    fn utf16_order_puts_supplementary_before_high_bmp() {
        // U+1F600 is a surrogate pair (D83D DE00) in UTF-16, so it sorts before U+FFFD.
        assert_eq!(
            canonical_query("x=%EF%BF%BD&x=%F0%9F%98%80").as_deref(),
            Ok("x=%F0%9F%98%80,%EF%BF%BD")
        );
        assert_eq!(
            canonical_query("x=b&x=a&x=%E2%82%AC").as_deref(),
            Ok("x=a,b,%E2%82%AC")
        );
    }

    #[test]
    fn keys_sort_by_encoded_form() {
        // `:` encodes to `%3A`, and `%` sorts before `0`.
        assert_eq!(canonical_query("a0=1&a:=2").as_deref(), Ok("a%3A=2&a0=1"));
        assert_eq!(
            canonical_query("b=1&A=2&a=3&B=4").as_deref(),
            Ok("A=2&B=4&a=3&b=1")
        );
    }

    #[test]
    fn escapes_are_strict() {
        assert_eq!(
            canonical_query("a=%zz"),
            Err(Error::InvalidPercentEncoding { offset: 2 })
        );
        assert_eq!(
            canonical_query("b=1&a=%"),
            Err(Error::InvalidPercentEncoding { offset: 6 })
        );
        assert_eq!(
            canonical_query("a=%4"),
            Err(Error::InvalidPercentEncoding { offset: 2 })
        );
        assert_eq!(
            canonical_query("a=%E2%82"),
            Err(Error::InvalidUtf8 { offset: 2 })
        );
        assert_eq!(
            canonical_query("%FF=1"),
            Err(Error::InvalidUtf8 { offset: 0 })
        );
    }

    #[test]
    fn long_components_are_as_strict_as_short_ones() {
        // Past 64 bytes escapes are judged block by block: the same errors at the same
        // offsets, wherever in a block (or across two) the culprit sits.
        for pad in [60, 61, 62, 63, 64, 100] {
            let ascii = "%41".repeat(pad / 3) + &"a".repeat(pad % 3);
            let query = |tail: &str| format!("k=1&v={ascii}{tail}");
            let at = 6 + ascii.len();
            assert_eq!(
                canonical_query(&query("%80")),
                Err(Error::InvalidUtf8 { offset: 6 }),
                "{pad}"
            );
            assert_eq!(
                canonical_query(&query("%C3")),
                Err(Error::InvalidUtf8 { offset: 6 }),
                "{pad}"
            );
            assert_eq!(
                canonical_query(&query("%C3%A9%E2%82%AC%F0%9F%98%80")),
                Ok(format!(
                    "k=1&v={}%C3%A9%E2%82%AC%F0%9F%98%80",
                    "A".repeat(pad / 3) + &"a".repeat(pad % 3)
                )),
                "{pad}"
            );
            for broken in ["%", "%4", "%zz", "%4g"] {
                assert_eq!(
                    canonical_query(&query(broken)),
                    Err(Error::InvalidPercentEncoding { offset: at }),
                    "{pad} {broken}"
                );
            }
        }
    }

    #[test]
    fn canonical_escapes_pass_through_and_others_are_rewritten() {
        assert_eq!(
            canonical_query("u=https%3A%2F%2Fa.b&v=%3a%41+%7E:").as_deref(),
            Ok("u=https%3A%2F%2Fa.b&v=%3AA%20~%3A")
        );
    }

    #[test]
    fn components_already_in_canonical_form_are_recognized() {
        let form = |raw: &str| classify(raw.as_bytes(), 0).unwrap();
        assert_eq!(form("https%3A%2F%2Fa.b"), Form::CanonicalEscaped);
        assert_eq!(form("%20~"), Form::CanonicalEscaped);
        // Lower-case hex, an escaped unreserved byte, `+`, a raw reserved or non-ASCII byte,
        // an escaped high byte (not examined): all rewritten by the general path.
        for raw in ["%3a", "%41", "a+b", "%3A:", "é%3A", "%C3%A9"] {
            assert_eq!(form(raw), Form::Escaped, "{raw}");
        }
    }

    #[test]
    fn the_first_escape_error_in_text_order_is_reported() {
        assert_eq!(
            canonical_query("a=%FF%zz"),
            Err(Error::InvalidUtf8 { offset: 2 })
        );
        assert_eq!(
            canonical_query("a=%3A%zz%FF"),
            Err(Error::InvalidPercentEncoding { offset: 5 })
        );
    }

    use proptest::strategy::Strategy as _;

    proptest::proptest! {
        /// Writing a component recognized as canonical as it is gives what decoding and
        /// encoding it byte by byte gives.
        #[test]
        fn canonical_fast_path_writes_what_the_general_path_writes(
            raw in proptest::collection::vec(
                proptest::sample::select(vec!["a", "Z", "%", "3", "A", "a", "f", "F", "4", "1", "+", ":", "é", "~", "%2F", "%7E", "%3a"]),
                0..12,
            ).prop_map(|pieces: Vec<&str>| pieces.concat()),
        ) {
            if let Ok(form) = classify(raw.as_bytes(), 0) {
                let (mut fast, mut general) = (Vec::new(), Vec::new());
                write_component(raw.as_bytes(), form, &mut fast);
                let slow_form = if form == Form::CanonicalEscaped { Form::Escaped } else { form };
                write_component(raw.as_bytes(), slow_form, &mut general);
                proptest::prop_assert_eq!(fast, general);
            }
        }
    }

    /// Pieces of raw components: escapes of every kind (upper and lower case, of unreserved,
    /// reserved and non-ASCII bytes), `+`, raw reserved and non-ASCII characters; and broken
    /// ones (bad escapes, lone halves of UTF-8 sequences).
    const VALID_PIECES: &[&str] = &[
        "a",
        "Z",
        "~",
        "%41",
        "%61",
        "%7E",
        "%7e",
        "%2F",
        "%2f",
        "%3A",
        "%20",
        "%25",
        "%00",
        "+",
        ":",
        "/",
        "é",
        "\u{1F600}",
        "%C3%A9",
        "%c3%a9",
        "%F0%9F%98%80",
    ];
    const BROKEN_PIECES: &[&str] = &["%", "%4", "%zz", "%G1", "%8", "%80", "%FF", "%C3", "%A9"];

    /// Up to 80 valid pieces (long enough to fill the encoder's buffer), and half the time
    /// one broken piece among them.
    fn raw_component() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::{collection::vec, option::of, sample::select};
        (
            vec(select(VALID_PIECES), 0..80),
            of((select(BROKEN_PIECES), 0..80usize)),
        )
            .prop_map(|(mut pieces, broken)| {
                if let Some((piece, at)) = broken {
                    pieces.insert(at.min(pieces.len()), piece);
                }
                pieces.concat()
            })
    }

    /// Decoded the plain way: `+` (raw) is a space, then `%XX` as `percent_encoding` does.
    fn reference_decode(raw: &str) -> Vec<u8> {
        percent_encoding::percent_decode(raw.replace('+', " ").as_bytes()).collect()
    }

    proptest::proptest! {
        /// The block decoder, the branch-free validator and the encoder agree with plain references: the
        /// decoder with `Decoded` and `percent_encoding`, the validator's errors with the
        /// in-order check, its canonical verdict with "writing it gives it back" (escapes of
        /// non-ASCII bytes are never judged canonical), the encoder with `percent_encoding`.
        #[test]
        fn branch_free_paths_agree_with_references(
            raw in raw_component(),
        ) {
            let bytes = raw.as_bytes();
            let expected_error = if escapes_or_hash(bytes).0 {
                validate_in_order(bytes, 7).err()
            } else {
                None
            };
            match classify(bytes, 7) {
                Err(error) => proptest::prop_assert_eq!(Some(error), expected_error),
                Ok(form) => {
                    proptest::prop_assert_eq!(expected_error, None);
                    let decoded = reference_decode(&raw);
                    let mut fast = Vec::new();
                    let mut blocks = DecodedBlocks::new(bytes);
                    let mut scratch = [0u8; 64];
                    while let Some((block, _)) = blocks.next(&mut scratch) {
                        fast.extend_from_slice(block);
                    }
                    proptest::prop_assert_eq!(&fast, &decoded);
                    proptest::prop_assert_eq!(&Decoded::new(bytes).collect::<Vec<u8>>(), &decoded);
                    let encoded: String = decoded
                        .iter()
                        .map(|&b| {
                            if is_unreserved(b) {
                                char::from(b).to_string()
                            } else {
                                percent_encoding::percent_encode_byte(b).to_owned()
                            }
                        })
                        .collect();
                    let mut written = Vec::new();
                    write_component(bytes, form, &mut written);
                    proptest::prop_assert_eq!(&written, encoded.as_bytes());
                    let high_escape = bytes
                        .windows(3)
                        .any(|w| w[0] == b'%' && hex_pair(w, 0).is_some_and(|b| b >= 0x80));
                    let canonical = encoded == raw && !high_escape && escapes_or_hash(bytes).0;
                    proptest::prop_assert_eq!(form == Form::CanonicalEscaped, canonical);
                }
            }
        }
    }

    #[test]
    fn bitmask_gathers_every_flag() {
        for j in 0..64 {
            let mut flags = [0u8; 64];
            flags[j] = 1;
            assert_eq!(bitmask(&flags), 1 << j);
            let mut all_but = [1u8; 64];
            all_but[j] = 0;
            assert_eq!(bitmask(&all_but), !(1 << j));
        }
    }

    #[test]
    fn unreserved_by_arithmetic_is_the_table() {
        for b in 0..=255u8 {
            assert_eq!(unreserved(b), is_unreserved(b), "{b:#04x}");
        }
    }

    #[test]
    fn params_stay_small() {
        assert_eq!(core::mem::size_of::<Param>(), 24);
        assert_eq!(canonical_query("a&b=&c=1&a=").as_deref(), Ok("a=,&b=&c=1"));
    }

    #[test]
    fn only_lower_case_jwt_is_dropped() {
        assert_eq!(
            canonical_query("jwt=x&JWT=y&%6Awt=z&a=1").as_deref(),
            Ok("JWT=y&a=1")
        );
    }
}
