//! The crate's small DER reader (ITU-T X.690), shared by `jose`, which tells private key kinds
//! apart before *ring* sees them, and `web`, which reads the subject alternative names of client
//! certificates. One element at a time, definite lengths of up to four octets, single-byte tags
//! (none of the structures read here has another kind): anything else is malformed, read as
//! `None` rather than a panic. Nothing is allocated or copied.

/// The universal tags read here.
pub const BOOLEAN: u8 = 0x01;
pub const INTEGER: u8 = 0x02;
pub const OCTET_STRING: u8 = 0x04;
pub const OID: u8 = 0x06;
pub const SEQUENCE: u8 = 0x30;

/// One DER element: its tag, its content, and what follows it. `None` when malformed.
pub fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // a multi-byte tag: none in a certificate's names or a private key
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let octets = usize::from(first & 0x7f);
        if octets == 0 || octets > 4 || rest.len() < octets {
            return None;
        }
        let (len, rest) = rest.split_at(octets);
        (len.iter().fold(0, |n, b| n << 8 | usize::from(*b)), rest)
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// One DER element of the given tag: its content and what follows it. `None` when malformed or
/// of another tag.
pub fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match element(input)? {
        (found, content, rest) if found == tag => Some((content, rest)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What [`element`] reads: tag, content, rest.
    type Element<'a> = Option<(u8, &'a [u8], &'a [u8])>;

    #[test]
    fn elements_are_read_with_short_and_long_lengths_and_malformed_ones_are_none() {
        let cases: &[(&[u8], Element)] = &[
            (
                &[0x04, 0x02, 0xaa, 0xbb, 0x05],
                Some((0x04, &[0xaa, 0xbb], &[0x05])),
            ),
            (&[0x30, 0x00], Some((0x30, &[], &[]))),
            (&[0x04, 0x81, 0x01, 0xaa], Some((0x04, &[0xaa], &[]))),
            (
                &[0x04, 0x82, 0x00, 0x01, 0xaa, 0xbb],
                Some((0x04, &[0xaa], &[0xbb])),
            ),
            (&[], None),
            (&[0x04], None),
            (&[0x04, 0x02, 0xaa], None), // shorter than its length
            (&[0x04, 0x80], None),       // indefinite length
            (&[0x04, 0x85, 0, 0, 0, 0, 1, 0xaa], None), // a length of five octets
            (&[0x04, 0x82, 0x00], None), // a length cut short
            (&[0x1f, 0x01, 0x00], None), // a multi-byte tag
            (&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff], None), // far longer than the input
        ];
        for (input, expected) in cases {
            assert_eq!(element(input), *expected, "{input:x?}");
        }
        assert_eq!(
            expect(&[0x02, 0x01, 0x07, 0x00], INTEGER),
            Some((&[0x07][..], &[0x00][..]))
        );
        assert_eq!(expect(&[0x02, 0x01, 0x07], SEQUENCE), None, "another tag");
    }
}
