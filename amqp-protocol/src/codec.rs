//! The decoding cursor every generated decoder uses. Primitives are read
//! straight from the slice; running out of bytes inside a complete payload is a
//! [`Truncated`](ErrorKind::Truncated) error, never "incomplete": the frame
//! layer has already delimited the payload.

use bytes::Bytes;

use crate::error::{Error, ErrorKind};
use crate::{table, FieldTable, LongStr, MethodId, MethodInfo, ShortStr, Timestamp};

/// How deep field tables and arrays may nest before decoding fails (bounds
/// the decoder's recursion, so hostile input cannot exhaust the stack).
pub const MAX_NESTING: usize = 64;

/// A cursor over a complete payload held in a [`Bytes`], so that strings and
/// bodies can be returned as slices of it.
pub(crate) struct Reader<'a> {
    src: &'a Bytes,
    pos: usize,
    end: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(src: &'a Bytes) -> Self {
        Reader {
            src,
            pos: 0,
            end: src.len(),
            depth: 0,
        }
    }

    /// Reads the class and method ids of a method payload and checks that they
    /// are `info`'s.
    pub(crate) fn method(payload: &'a Bytes, info: &MethodInfo) -> Result<Self, Error> {
        let mut r = Reader::new(payload);
        let found = MethodId {
            class_id: r.short(info.name)?,
            method_id: r.short(info.name)?,
        };
        if found != info.id() {
            return Err(Error::new(
                ErrorKind::MethodMismatch {
                    expected: info.id(),
                    found,
                },
                info.name,
            ));
        }
        Ok(r)
    }

    pub(crate) fn remaining(&self) -> usize {
        self.end - self.pos
    }

    #[inline]
    fn array<const N: usize>(&mut self, path: &'static str) -> Result<[u8; N], Error> {
        match self.src.get(self.pos..self.end).and_then(|s| s.get(..N)) {
            Some(b) => {
                self.pos += N;
                Ok(b.try_into().unwrap_or([0; N]))
            }
            None => Err(Error::new(ErrorKind::Truncated, path)),
        }
    }

    #[inline]
    pub(crate) fn octet(&mut self, path: &'static str) -> Result<u8, Error> {
        self.array::<1>(path).map(|b| b[0])
    }

    #[inline]
    pub(crate) fn short(&mut self, path: &'static str) -> Result<u16, Error> {
        self.array(path).map(u16::from_be_bytes)
    }

    #[inline]
    pub(crate) fn long(&mut self, path: &'static str) -> Result<u32, Error> {
        self.array(path).map(u32::from_be_bytes)
    }

    #[inline]
    pub(crate) fn longlong(&mut self, path: &'static str) -> Result<u64, Error> {
        self.array(path).map(u64::from_be_bytes)
    }

    #[inline]
    pub(crate) fn timestamp(&mut self, path: &'static str) -> Result<Timestamp, Error> {
        self.longlong(path).map(Timestamp)
    }

    /// Reads `n` raw bytes as a slice of the source.
    #[inline]
    pub(crate) fn bytes(&mut self, n: usize, path: &'static str) -> Result<Bytes, Error> {
        if self.remaining() < n {
            return Err(Error::new(ErrorKind::Truncated, path));
        }
        let b = self.src.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(b)
    }

    #[inline]
    pub(crate) fn shortstr(&mut self, path: &'static str) -> Result<ShortStr, Error> {
        let n = usize::from(self.octet(path)?);
        self.bytes(n, path).map(ShortStr::from_bytes_unchecked)
    }

    #[inline]
    pub(crate) fn longstr(&mut self, path: &'static str) -> Result<LongStr, Error> {
        let n = self.long(path)? as usize;
        self.bytes(n, path).map(LongStr::from)
    }

    /// Reads one bit octet holding `count` bits; any other bit set is an error.
    #[inline]
    pub(crate) fn bits(&mut self, path: &'static str, count: u8) -> Result<u8, Error> {
        let octet = self.octet(path)?;
        if count < 8 && octet >> count != 0 {
            return Err(Error::new(ErrorKind::ReservedBits { octet }, path));
        }
        Ok(octet)
    }

    pub(crate) fn table(&mut self, path: &'static str) -> Result<FieldTable, Error> {
        table::decode_table(self, path)
    }

    /// A reader over the next `len` bytes, one nesting level deeper.
    pub(crate) fn sub(&mut self, len: usize, path: &'static str) -> Result<Reader<'a>, Error> {
        if self.remaining() < len {
            return Err(Error::new(ErrorKind::Truncated, path));
        }
        if self.depth >= MAX_NESTING {
            return Err(Error::new(
                ErrorKind::NestingTooDeep { limit: MAX_NESTING },
                path,
            ));
        }
        let sub = Reader {
            src: self.src,
            pos: self.pos,
            end: self.pos + len,
            depth: self.depth + 1,
        };
        self.pos += len;
        Ok(sub)
    }

    /// Reads property-flag words: as many as the continuation bits say, at
    /// most `N`. Bits for properties that do not exist, a continuation past
    /// the last word, or an all-zero continuation word are errors (the
    /// encoder would not write them back).
    pub(crate) fn property_flags<const N: usize>(
        &mut self,
        path: &'static str,
        used: [u16; N],
    ) -> Result<[u16; N], Error> {
        let mut words = [0u16; N];
        for i in 0..N {
            let w = self.short(path)?;
            let bad = w & !used[i] & !1 != 0 || (i > 0 && w == 0) || (w & 1 != 0 && i + 1 == N);
            if bad {
                return Err(Error::new(
                    ErrorKind::InvalidPropertyFlags { word: w },
                    path,
                ));
            }
            words[i] = w & !1;
            if w & 1 == 0 {
                break;
            }
        }
        Ok(words)
    }

    /// The rest of the input, undecoded.
    pub(crate) fn rest(&mut self) -> Bytes {
        let b = self.src.slice(self.pos..self.end);
        self.pos = self.end;
        b
    }

    /// Fails when bytes remain.
    pub(crate) fn finish(&self, path: &'static str) -> Result<(), Error> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(Error::new(ErrorKind::TrailingBytes { count }, path)),
        }
    }
}

/// Sets the continuation bit of every flag word that another non-zero word
/// follows.
pub(crate) fn continuation<const N: usize>(words: &mut [u16; N]) {
    let count = flag_word_count(words);
    for w in words.iter_mut().take(count.saturating_sub(1)) {
        *w |= 1;
    }
}

/// How many flag words go on the wire: up to the last non-zero one, at least one.
pub(crate) fn flag_word_count<const N: usize>(words: &[u16; N]) -> usize {
    words
        .iter()
        .rposition(|w| *w & !1 != 0)
        .map_or(1, |i| i + 1)
}
