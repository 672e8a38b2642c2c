use super::error::CryptoError;

/// The purpose every stored provider key is sealed under.
pub const PURPOSE_PROVIDER_API_KEY: &str = "provider-api-key";

/// Whose key a sealed value is and for which provider.
///
/// It is bound into the associated data of the AEAD, so a ciphertext copied to
/// another user's or another provider's item does not open. The table name is left
/// out on purpose: a point-in-time restore creates a new table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyContext<'a> {
    user_id: &'a str,
    provider: &'a str,
}

impl<'a> KeyContext<'a> {
    /// The context of a provider API key stored for `user_id`.
    pub fn new(user_id: &'a str, provider: &'a str) -> Self {
        Self { user_id, provider }
    }

    /// The user the value belongs to.
    pub fn user_id(&self) -> &'a str {
        self.user_id
    }

    /// The provider the value belongs to.
    pub fn provider(&self) -> &'a str {
        self.provider
    }

    /// The (name, value) pairs in byte order of the names: provider < purpose < user_id.
    fn pairs(&self) -> [(&'a str, &'a str); 3] {
        [
            ("provider", self.provider),
            ("purpose", PURPOSE_PROVIDER_API_KEY),
            ("user_id", self.user_id),
        ]
    }

    /// The length of the canonical encoding; an error when a field is too long.
    pub(crate) fn canonical_len(&self) -> Result<usize, CryptoError> {
        let mut len = 2;
        for (name, value) in self.pairs() {
            for s in [name, value] {
                u16::try_from(s.len()).map_err(|_| CryptoError::ContextTooLong)?;
                len += 2 + s.len();
            }
        }
        Ok(len)
    }

    /// Writes the canonical encoding into `out`, which is exactly
    /// [`canonical_len`](Self::canonical_len) long: a big-endian u16 pair count,
    /// then each (name, value) pair sorted by name, each string as a u16 length and
    /// UTF-8 bytes. Call `canonical_len` first: it checks the field lengths.
    pub(crate) fn write_canonical_to(&self, out: &mut [u8]) {
        let pairs = self.pairs();
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(&(pairs.len() as u16).to_be_bytes());
        for (name, value) in pairs {
            for s in [name, value] {
                put(&(s.len() as u16).to_be_bytes());
                put(s.as_bytes());
            }
        }
    }

    /// Appends the canonical encoding (see [`write_canonical_to`](Self::write_canonical_to)).
    #[cfg(test)]
    fn write_canonical(&self, out: &mut Vec<u8>) -> Result<(), CryptoError> {
        let start = out.len();
        out.resize(start + self.canonical_len()?, 0);
        self.write_canonical_to(&mut out[start..]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_encoding_is_sorted_and_length_prefixed() {
        let mut out = Vec::new();
        KeyContext::new("u1", "openai")
            .write_canonical(&mut out)
            .unwrap();
        let mut expected = vec![0, 3];
        for s in [
            "provider",
            "openai",
            "purpose",
            "provider-api-key",
            "user_id",
            "u1",
        ] {
            expected.extend_from_slice(&(s.len() as u16).to_be_bytes());
            expected.extend_from_slice(s.as_bytes());
        }
        assert_eq!(out, expected);
    }

    #[test]
    fn oversized_field_is_refused() {
        let long = "x".repeat(70_000);
        let mut out = Vec::new();
        assert_eq!(
            KeyContext::new(&long, "openai").write_canonical(&mut out),
            Err(CryptoError::ContextTooLong)
        );
    }
}
