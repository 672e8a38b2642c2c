use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// A resolver that answers from a table and counts its calls.
#[derive(Debug, Default)]
struct Table {
    names: HashMap<&'static str, Vec<IpAddr>>,
    calls: AtomicUsize,
}

impl Table {
    fn with(name: &'static str, ips: &[&str]) -> Self {
        let mut table = Self::default();
        table
            .names
            .insert(name, ips.iter().map(|ip| ip.parse().unwrap()).collect());
        table
    }
}

impl HostResolver for Table {
    fn resolve<'a>(&'a self, host: &'a str) -> Resolution<'a> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let found = self.names.get(host).cloned();
        Box::pin(async move {
            found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host"))
        })
    }
}

#[test]
fn every_non_global_class_is_recognised() {
    let cases = [
        ("127.0.0.1", AddressClass::Loopback),
        ("127.255.0.9", AddressClass::Loopback),
        ("::1", AddressClass::Loopback),
        ("10.0.0.1", AddressClass::Private),
        ("172.16.0.1", AddressClass::Private),
        ("172.31.255.255", AddressClass::Private),
        ("192.168.1.1", AddressClass::Private),
        ("fc00::1", AddressClass::Private),
        ("fd12:3456::1", AddressClass::Private),
        ("fec0::1", AddressClass::Private),
        ("169.254.169.254", AddressClass::LinkLocal),
        ("fe80::1", AddressClass::LinkLocal),
        ("100.64.0.1", AddressClass::SharedAddressSpace),
        ("100.127.255.254", AddressClass::SharedAddressSpace),
        ("224.0.0.1", AddressClass::Multicast),
        ("ff02::1", AddressClass::Multicast),
        ("0.0.0.0", AddressClass::Unspecified),
        ("0.1.2.3", AddressClass::Unspecified),
        ("::", AddressClass::Unspecified),
        ("255.255.255.255", AddressClass::Broadcast),
        ("192.0.2.1", AddressClass::Documentation),
        ("198.51.100.1", AddressClass::Documentation),
        ("203.0.113.1", AddressClass::Documentation),
        ("2001:db8::1", AddressClass::Documentation),
        ("3fff::1", AddressClass::Documentation),
        ("198.18.0.1", AddressClass::Benchmarking),
        ("198.19.255.1", AddressClass::Benchmarking),
        ("192.0.0.8", AddressClass::Reserved),
        ("240.0.0.1", AddressClass::Reserved),
        ("2001::1", AddressClass::Reserved),
        ("64:ff9b:1::1", AddressClass::Reserved),
        ("100::1", AddressClass::Reserved),
        ("4000::1", AddressClass::Reserved),
        // IPv4 inside IPv6: mapped, compatible, translated, NAT64, 6to4.
        ("::ffff:169.254.169.254", AddressClass::LinkLocal),
        ("::ffff:10.0.0.1", AddressClass::Private),
        ("::ffff:127.0.0.1", AddressClass::Loopback),
        ("::169.254.169.254", AddressClass::LinkLocal),
        ("::ffff:0:10.0.0.1", AddressClass::Private),
        ("64:ff9b::a9fe:a9fe", AddressClass::LinkLocal),
        ("2002:a00:1::1", AddressClass::Private),
        // Public addresses stay reachable.
        ("8.8.8.8", AddressClass::Global),
        ("100.128.0.1", AddressClass::Global),
        ("172.32.0.1", AddressClass::Global),
        ("2606:4700::1111", AddressClass::Global),
        ("::ffff:8.8.8.8", AddressClass::Global),
        ("64:ff9b::808:808", AddressClass::Global),
    ];
    for (ip, class) in cases {
        assert_eq!(classify(ip.parse().unwrap()), class, "{ip}");
    }
}

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

#[tokio::test]
async fn a_name_resolving_to_the_metadata_service_is_refused() {
    for ip in ["169.254.169.254", "::ffff:169.254.169.254", "fd00:ec2::254"] {
        let resolver = Table::with("metadata.example.com", &[ip]);
        let refused = check(&url("https://metadata.example.com/v1"), true, &resolver).await;
        assert!(
            matches!(refused, Err(GuardError::Refused(_))),
            "{ip}: {refused:?}"
        );
    }
}

#[tokio::test]
async fn one_bad_address_among_good_ones_is_enough_to_refuse() {
    let resolver = Table::with("mixed.example.com", &["8.8.8.8", "10.0.0.1"]);
    let refused = check(&url("https://mixed.example.com"), false, &resolver).await;
    assert_eq!(refused, Err(GuardError::Refused(AddressClass::Private)));
}

#[tokio::test]
async fn ip_literals_are_checked_without_resolving() {
    let resolver = Table::default();
    for (literal, class) in [
        ("https://[::1]/v1", AddressClass::Loopback),
        ("https://[::ffff:10.0.0.1]/v1", AddressClass::Private),
        ("https://[::ffff:169.254.169.254]/", AddressClass::LinkLocal),
        (
            "https://169.254.169.254/latest/meta-data",
            AddressClass::LinkLocal,
        ),
        ("https://0x7f.1/", AddressClass::Loopback),
        ("https://0.0.0.0/", AddressClass::Unspecified),
    ] {
        let refused = check(&url(literal), false, &resolver).await;
        assert_eq!(refused, Err(GuardError::Refused(class)), "{literal}");
    }
    assert_eq!(resolver.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn loopback_is_allowed_only_with_the_opt_in_and_only_loopback() {
    let resolver = Table::with("models.localhost", &["127.0.0.1", "::1"]);
    let target = url("http://models.localhost:11434/v1");
    assert_eq!(
        check(&target, false, &resolver).await,
        Err(GuardError::Refused(AddressClass::Loopback))
    );
    let allowed = check(&target, true, &resolver).await.unwrap();
    assert_eq!(
        allowed.addrs(),
        &[
            "127.0.0.1:11434".parse().unwrap(),
            "[::1]:11434".parse().unwrap()
        ]
    );
    let private = Table::with("models.localhost", &["192.168.0.10"]);
    assert_eq!(
        check(&target, true, &private).await,
        Err(GuardError::Refused(AddressClass::Private))
    );
}

#[tokio::test]
async fn plain_http_must_stay_on_loopback_and_names_must_resolve() {
    let resolver = Table::with("llm.example.com", &["8.8.8.8"]);
    assert_eq!(
        check(&url("http://llm.example.com/v1"), true, &resolver).await,
        Err(GuardError::PlainHttpBeyondLoopback)
    );
    let https = check(&url("https://llm.example.com/v1"), false, &resolver)
        .await
        .unwrap();
    assert_eq!(https.addrs(), &["8.8.8.8:443".parse().unwrap()]);
    assert_eq!(
        check(&url("https://nowhere.example.com"), false, &resolver).await,
        Err(GuardError::Unresolvable)
    );
    let empty = Table::with("empty.example.com", &[]);
    assert_eq!(
        check(&url("https://empty.example.com"), false, &empty).await,
        Err(GuardError::Unresolvable)
    );
}
