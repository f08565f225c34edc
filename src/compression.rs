//! Content coding of `/metrics`: which encoding a scrape gets, and a streaming encoder for it.
//!
//! Prometheus sends `Accept-Encoding: gzip` with every scrape; at 10,000 tokens the text is about
//! 20 MB and gzip at level 1 makes it a tenth of that or less. Like Prometheus' own Go client, the
//! exporter answers gzip when asked, zstd when asked (it is smaller and cheaper still), and
//! identity otherwise, honouring `q` values. The encoders work chunk by chunk, so a compressed
//! scrape holds no more memory than a plain one.

use std::io::Write;

use bytes::Bytes;

/// A content coding the exporter can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Zstd,
}

impl Encoding {
    /// The `Content-Encoding` value; `None` for identity, which is sent without one.
    pub fn header_value(self) -> Option<&'static str> {
        match self {
            Encoding::Identity => None,
            Encoding::Gzip => Some("gzip"),
            Encoding::Zstd => Some("zstd"),
        }
    }
}

/// Chooses the coding for an `Accept-Encoding` header (RFC 9110, section 12.5.3): the acceptable
/// coding with the highest `q`, preferring zstd, then gzip, then identity on a tie. Identity
/// is the answer when the header is absent, or when nothing else is acceptable (a scrape is
/// better served uncompressed than refused with 406).
pub fn negotiate(accept_encoding: Option<&str>) -> Encoding {
    let Some(header) = accept_encoding else {
        return Encoding::Identity;
    };
    let mut wildcard: Option<f32> = None;
    let mut weights: [Option<f32>; 3] = [None; 3];
    for item in header.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .filter(|q| (0.0..=1.0).contains(q))
            .unwrap_or(1.0);
        let slot = if coding.eq_ignore_ascii_case("zstd") {
            &mut weights[0]
        } else if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            &mut weights[1]
        } else if coding.eq_ignore_ascii_case("identity") {
            &mut weights[2]
        } else if coding == "*" {
            &mut wildcard
        } else {
            continue;
        };
        *slot = Some(slot.map_or(q, |old: f32| old.max(q)));
    }
    let mut best = (Encoding::Identity, 0.0_f32);
    for (encoding, weight) in [Encoding::Zstd, Encoding::Gzip, Encoding::Identity]
        .into_iter()
        .zip(weights)
    {
        let q = weight.or(wildcard).unwrap_or(0.0);
        if q > best.1 {
            best = (encoding, q);
        }
    }
    best.0
}

/// gzip level 1 and zstd level 1: a scrape is compressed once and read once, so speed matters
/// more than the last percent of size (Prometheus' Go client makes the same choice for gzip).
const GZIP_LEVEL: u32 = 1;
const ZSTD_LEVEL: i32 = 1;

/// Compresses a body chunk by chunk.
pub enum ChunkEncoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl ChunkEncoder {
    /// The encoder for `encoding`; `None` for identity.
    pub fn new(encoding: Encoding) -> Option<ChunkEncoder> {
        match encoding {
            Encoding::Identity => None,
            Encoding::Gzip => Some(ChunkEncoder::Gzip(flate2::write::GzEncoder::new(
                Vec::with_capacity(64 * 1024),
                flate2::Compression::new(GZIP_LEVEL),
            ))),
            Encoding::Zstd => {
                zstd::stream::write::Encoder::new(Vec::with_capacity(64 * 1024), ZSTD_LEVEL)
                    .ok()
                    .map(ChunkEncoder::Zstd)
            }
        }
    }

    /// Feeds one chunk of text; returns what the encoder has output so far (may be empty).
    pub fn encode(&mut self, chunk: &[u8]) -> Bytes {
        let output = match self {
            ChunkEncoder::Gzip(e) => e.write_all(chunk).map(|()| e.get_mut()),
            ChunkEncoder::Zstd(e) => e.write_all(chunk).map(|()| e.get_mut()),
        };
        // Writing to a Vec cannot fail.
        output
            .map(|out| Bytes::from(std::mem::take(out)))
            .unwrap_or_default()
    }

    /// Ends the stream; returns the rest of the output, trailer included.
    pub fn finish(self) -> Bytes {
        let output = match self {
            ChunkEncoder::Gzip(e) => e.finish(),
            ChunkEncoder::Zstd(e) => e.finish(),
        };
        output.map(Bytes::from).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn the_coding_follows_the_accept_encoding_header() {
        use Encoding::*;
        let cases: &[(Option<&str>, Encoding)] = &[
            (None, Identity),
            (Some(""), Identity),
            (Some("gzip"), Gzip),
            (Some("GZIP"), Gzip),
            (Some("x-gzip"), Gzip),
            (Some("zstd"), Zstd),
            (Some("gzip, zstd"), Zstd),
            (Some("zstd;q=0.5, gzip"), Gzip),
            (Some("gzip;q=0.5, zstd;q=0.5"), Zstd),
            (Some("gzip;q=0"), Identity),
            (Some("gzip;q=0.2, identity;q=0.5"), Identity),
            (Some("gzip;q=0.8, identity;q=0.5"), Gzip),
            (Some("identity;q=0, gzip;q=0"), Identity),
            (Some("br"), Identity),
            (Some("br, gzip;q=0.1"), Gzip),
            (Some("*"), Zstd),
            (Some("*;q=0.5, zstd;q=0"), Gzip),
            (Some("gzip;q=2"), Gzip),
            (Some("gzip;q=nonsense"), Gzip),
            (Some(" gzip ; q=0.9 , deflate"), Gzip),
            (Some("gzip, gzip;q=0"), Gzip),
        ];
        for (header, expected) in cases {
            assert_eq!(negotiate(*header), *expected, "{header:?}");
        }
    }

    fn text() -> Vec<u8> {
        (0..5000)
            .flat_map(|i| {
                format!("okta_api_token_window_seconds{{token_id=\"00T{i}\"}} 2592000\n")
                    .into_bytes()
            })
            .collect()
    }

    fn encode_in_chunks(encoding: Encoding, text: &[u8]) -> Vec<u8> {
        let mut encoder = ChunkEncoder::new(encoding).unwrap();
        let mut out = Vec::new();
        for chunk in text.chunks(7_000) {
            out.extend_from_slice(&encoder.encode(chunk));
        }
        out.extend_from_slice(&encoder.finish());
        out
    }

    #[test]
    fn gzip_chunks_decode_to_the_text() {
        let text = text();
        let encoded = encode_in_chunks(Encoding::Gzip, &text);
        assert!(
            encoded.len() * 10 < text.len(),
            "{} of {}",
            encoded.len(),
            text.len()
        );
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(encoded.as_slice())
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, text);
    }

    #[test]
    fn zstd_chunks_decode_to_the_text() {
        let text = text();
        let encoded = encode_in_chunks(Encoding::Zstd, &text);
        assert!(
            encoded.len() * 10 < text.len(),
            "{} of {}",
            encoded.len(),
            text.len()
        );
        assert_eq!(zstd::stream::decode_all(encoded.as_slice()).unwrap(), text);
    }

    #[test]
    fn identity_needs_no_encoder() {
        assert!(ChunkEncoder::new(Encoding::Identity).is_none());
        assert_eq!(Encoding::Identity.header_value(), None);
        assert_eq!(Encoding::Gzip.header_value(), Some("gzip"));
        assert_eq!(Encoding::Zstd.header_value(), Some("zstd"));
    }
}
