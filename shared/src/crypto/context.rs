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

    /// Appends the canonical encoding: a big-endian u16 pair count, then each
    /// (name, value) pair sorted by name, each string as a u16 length and UTF-8 bytes.
    pub(crate) fn write_canonical(&self, out: &mut Vec<u8>) -> Result<(), CryptoError> {
        // Already in byte order of the names: provider < purpose < user_id.
        let pairs = [
            ("provider", self.provider),
            ("purpose", PURPOSE_PROVIDER_API_KEY),
            ("user_id", self.user_id),
        ];
        out.extend_from_slice(&(pairs.len() as u16).to_be_bytes());
        for (name, value) in pairs {
            for s in [name, value] {
                let len = u16::try_from(s.len()).map_err(|_| CryptoError::ContextTooLong)?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
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
