//! Reading a key's shape: which provider it looks like, and whether it is the
//! shape its provider issues today. Shapes only warn: a key of the right provider
//! but an unusual length is still tested, so that legacy and future keys never lock
//! a user out. Only a key that starts like another provider's is refused.

use super::registry::REGISTRY;
use super::spec::{KeyShape, Provider};
use super::ProviderId;

/// What a key's shape says before any call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFit {
    /// The shape this provider issues today.
    Fits,
    /// This provider's prefix (or no prefix needed) but not the usual length or
    /// characters: tested anyway, with this warning.
    Unusual(String),
    /// Starts like a key of that other provider; nothing is sent.
    OtherProvider(ProviderId),
    /// None of the prefixes this provider's keys always start with; nothing is sent.
    WrongPrefix,
}

/// The specificity of a fitting shape: a longer prefix, then a fixed length, then a
/// narrower character set. The first of equals wins, so the registry order decides.
fn specificity(shape: &KeyShape) -> (usize, bool, u8) {
    (
        shape.prefix.len(),
        shape.is_exact(),
        shape.rest.narrowness(),
    )
}

fn first_max<T, K: Ord>(items: impl Iterator<Item = T>, key: impl Fn(&T) -> K) -> Option<T> {
    items
        .fold(None, |best: Option<(K, T)>, item| {
            let k = key(&item);
            match best {
                Some((bk, b)) if bk >= k => Some((bk, b)),
                _ => Some((k, item)),
            }
        })
        .map(|(_, item)| item)
}

/// Reads `key` against `provider`'s shapes.
pub fn inspect(provider: &Provider, key: &str) -> KeyFit {
    if provider.shapes.is_empty() {
        return KeyFit::Fits;
    }
    let own_prefix = provider
        .shapes
        .iter()
        .filter(|s| s.prefix_matches(key))
        .map(|s| s.prefix.len())
        .max();
    let prefixless = provider.shapes.iter().all(|s| s.prefix.is_empty());
    // A longer prefix of another provider wins over our own shorter one (`sk-ant-`
    // over OpenAI's `sk-`). Without a prefix of our own, a short foreign prefix is
    // too weak a sign by itself (`AIza` could open a random key): the whole shape
    // must fit.
    let other = first_max(
        REGISTRY
            .iter()
            .filter(|p| p.id != provider.id)
            .flat_map(|p| p.shapes.iter().map(move |s| (p.id, s)))
            .filter(|(_, s)| {
                !s.prefix.is_empty()
                    && s.prefix_matches(key)
                    && s.prefix.len() > own_prefix.unwrap_or(0)
                    && (!prefixless || s.fits(key))
            }),
        |(_, s)| {
            let fits = s.fits(key);
            (s.prefix.len(), fits, fits.then(|| specificity(s)))
        },
    );
    if let Some((other, _)) = other {
        return KeyFit::OtherProvider(other);
    }
    if provider.shapes.iter().any(|s| s.fits(key)) {
        return KeyFit::Fits;
    }
    let Some(longest) = own_prefix else {
        return KeyFit::WrongPrefix;
    };
    let near: Vec<&KeyShape> = provider
        .shapes
        .iter()
        .filter(|s| s.prefix_matches(key) && s.prefix.len() == longest)
        .collect();
    KeyFit::Unusual(warning(provider, &near, key))
}

fn warning(provider: &Provider, shapes: &[&KeyShape], key: &str) -> String {
    let usual = shapes
        .iter()
        .map(|s| s.describe())
        .collect::<Vec<_>>()
        .join(" or ");
    let prefix = shapes.first().map_or("", |s| s.prefix);
    let rest = key.len() - prefix.len();
    let length_fits = shapes.iter().any(|s| (s.min..=s.max).contains(&rest));
    let this_one = match (length_fits, prefix.is_empty()) {
        (true, _) => "other characters".to_owned(),
        (false, true) => format!("{rest} characters"),
        (false, false) => format!("{rest} characters after {prefix}"),
    };
    format!(
        "{} keys usually have {usual}; this one has {this_one}. It was tested anyway.",
        provider.display_name
    )
}

/// The provider whose key shape `key` has, if any: the most specific fitting shape.
/// Shapes without a prefix count only when their length is fixed.
pub fn guess(key: &str) -> Option<ProviderId> {
    first_max(
        REGISTRY
            .iter()
            .flat_map(|p| p.shapes.iter().map(move |s| (p.id, s)))
            .filter(|(_, s)| (!s.prefix.is_empty() || s.is_exact()) && s.fits(key)),
        |(_, s)| specificity(s),
    )
    .map(|(id, _)| id)
}
