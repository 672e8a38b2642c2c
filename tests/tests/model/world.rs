//! The world of the model-based test: three users' OpenAI keys in a table of their
//! own, what the test knows of them (the model), the operations it draws, and the
//! checks after every round. See `main.rs`.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;

use apikeys::provider::ProviderId;
use apikeys::proxy::ProxySettings;
use apikeys::repo::{month_of, KeyTable, Spent};
use apikeys_admin::import::{import, ExportRow};
use apikeys_integration_tests::calls::{key_ids, Calls};
use apikeys_integration_tests::proxy_rig::ProxyRig;
use apikeys_integration_tests::{text, unique, Item, Stack};
use aws_sdk_dynamodb::types::AttributeValue;
use bytes::Bytes;
use http_body_util::BodyExt;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Store,
    Add,
    Update,
    MakePrimary,
    DeleteOne,
    DeleteAll,
    Settings,
    Use,
    Report,
    Test,
    Import,
    Migrate,
    /// A key's monthly budget set (or removed), as the keys route sets it.
    Budget,
    /// A proxied call's spending recorded on a key, as the proxy records it.
    Spend,
    /// A chat completion through the proxy (a fake provider on loopback): the key
    /// chosen in use order, the use and the call's tokens recorded.
    Proxy,
}

impl Kind {
    /// Every operation (transactions needed: moto).
    pub const ALL: &'static [Kind] = &[
        Kind::Store,
        Kind::Add,
        Kind::Add,
        Kind::Update,
        Kind::MakePrimary,
        Kind::DeleteOne,
        Kind::DeleteAll,
        Kind::Settings,
        Kind::Use,
        Kind::Use,
        Kind::Report,
        Kind::Test,
        Kind::Import,
        Kind::Migrate,
        Kind::Budget,
        Kind::Spend,
        Kind::Spend,
        Kind::Proxy,
        Kind::Proxy,
    ];

    /// The operations of a single key per provider (no transactions: dynalite too).
    pub const SINGLE_KEY: &'static [Kind] = &[
        Kind::Store,
        Kind::Store,
        Kind::DeleteAll,
        Kind::Settings,
        Kind::Use,
        Kind::Use,
        Kind::Report,
        Kind::Test,
        Kind::Migrate,
        Kind::Budget,
        Kind::Spend,
        Kind::Spend,
        Kind::Proxy,
        Kind::Proxy,
    ];
}

/// One drawn operation with its arguments.
#[derive(Debug, Clone)]
struct Op {
    kind: Kind,
    user: usize,
    /// The key it names (update, make-primary, delete-one, report, test).
    id: Option<String>,
    /// A new plaintext key (store, add, import), or the lease (report).
    text: Option<String>,
    /// A small number for priorities, settings and outcomes.
    n: u32,
}

/// What an operation answered: a status (or 0 for the non-HTTP ones) and a body.
#[derive(Debug, Clone)]
struct Done {
    op: Op,
    status: u16,
    body: Value,
}

type Boxed<'a> = Pin<Box<dyn Future<Output = Done> + 'a>>;

/// A non-streamed chat completion of `user`'s through the world's proxy, marked so
/// that the provider's side of it can be found: (status, key id and source from
/// the receipt, error).
async fn chat(rig: &ProxyRig, user: &str, marker: &str) -> (u16, Value) {
    let token = rig.token(user);
    let body = json!({
        "model": "gpt-fake",
        "messages": [{"role": "user", "content": "hello there"}],
        "user": marker,
    });
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("/proxy/{PROVIDER}/v1/chat/completions"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Bytes::from(body.to_string()))
        .unwrap();
    let response = rig.proxy.handle(request, "req-model").await;
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (key_id, source) = (header("x-apikeys-key-id"), header("x-apikeys-key-source"));
    let bytes = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (
        status,
        json!({"keyId": key_id, "source": source, "marker": marker, "error": answer["error"]}),
    )
}

/// The key the world's provider was called with for the call marked `marker`.
fn key_seen(rig: &ProxyRig, marker: &str) -> Option<String> {
    rig.fake
        .seen()
        .into_iter()
        .find(|s| s.body["user"] == marker)
        .and_then(|s| {
            let auth = s.headers.get("authorization")?.to_str().ok()?;
            auth.strip_prefix("Bearer ").map(str::to_owned)
        })
}

/// The table, the model and the random draws.
pub struct World {
    stack: Stack,
    proxy: ProxyRig,
    rng: SmallRng,
    kinds: Vec<Kind>,
    users: Vec<String>,
    source: KeyTable,
    /// The ids each user's keys have now, as the last round left them.
    alive: Vec<BTreeSet<String>>,
    /// Ids that were there and are gone: never to come back.
    dead: BTreeSet<String>,
    /// The plaintexts stored under each id.
    plaintexts: HashMap<String, BTreeSet<String>>,
    /// Leases handed out, per user: (key id, lease).
    leases: Vec<Vec<(String, String)>>,
    /// The keys whose budget was spent when the last round ended, per user.
    spent: Vec<BTreeSet<String>>,
    next_key: usize,
    /// Rounds run.
    pub rounds: usize,
    /// Uses refused because every usable key's budget was spent.
    pub budget_refusals: usize,
    /// Calls through the proxy that reached the provider with a user's key.
    pub proxied: usize,
}

const PROVIDER: &str = "openai";

/// The longest a round (or the checks after it) may take: every SDK call ends
/// within its own timeout long before this.
const ROUND_AT_MOST: std::time::Duration = std::time::Duration::from_secs(180);

impl World {
    /// A fresh table and a single-key source table with one old key per user.
    pub async fn new(seed: u64, kinds: &[Kind]) -> Self {
        let stack = Stack::new().await;
        let users: Vec<String> = (0..3).map(|i| unique(&format!("model{i}"))).collect();
        let mut plaintexts = HashMap::new();
        let mut olds = Vec::new();
        for user in &users {
            let plaintext = format!("sk-proj-ModelOld{:0>8}abcdefghijklmnopqrstuv", user.len());
            olds.push(stack.single_key_item(user, &plaintext, 2).await);
            plaintexts.insert(format!("old-{user}"), BTreeSet::from([plaintext]));
        }
        let source = stack.single_key_table(&olds).await;
        let proxy = ProxyRig::over(&stack, ProxySettings::default()).await;
        Self {
            proxy,
            stack,
            rng: SmallRng::seed_from_u64(seed),
            kinds: kinds.to_vec(),
            alive: vec![BTreeSet::new(); users.len()],
            leases: vec![Vec::new(); users.len()],
            spent: vec![BTreeSet::new(); users.len()],
            users,
            source,
            dead: BTreeSet::new(),
            plaintexts,
            next_key: 0,
            rounds: 0,
            budget_refusals: 0,
            proxied: 0,
        }
    }

    /// Runs rounds until `cases` operations ran; the number run.
    pub async fn run(&mut self, cases: usize) -> usize {
        let mut done = 0;
        while done < cases {
            let width = self.rng.random_range(1..=4).min(cases - done);
            let ops: Vec<Op> = (0..width).map(|_| self.draw()).collect();
            // A round that never ends is a failure that names its operations.
            let Ok(answers) = tokio::time::timeout(ROUND_AT_MOST, self.apply(&ops)).await else {
                panic!(
                    "round {} did not end within {ROUND_AT_MOST:?}: {ops:?}",
                    self.rounds + 1
                );
            };
            self.rounds += 1;
            if tokio::time::timeout(ROUND_AT_MOST, self.check(&answers))
                .await
                .is_err()
            {
                panic!("the checks after round {} did not end", self.rounds);
            }
            done += width;
            if self.rounds % 250 == 0 {
                eprintln!("  {done} operations, {} rounds", self.rounds);
            }
        }
        done
    }

    fn new_key(&mut self) -> String {
        self.next_key += 1;
        format!(
            "sk-proj-Model{:08}abcdefghijklmnopqrstuvwxyz",
            self.next_key
        )
    }

    /// An id of the user's keys, now and then one that is gone or never was.
    fn some_id(&mut self, user: usize) -> Option<String> {
        let alive: Vec<&String> = self.alive[user].iter().collect();
        if alive.is_empty() || self.rng.random_ratio(1, 8) {
            return self
                .dead
                .iter()
                .next()
                .cloned()
                .or_else(|| Some("00000000-0000-4000-8000-00000000dead".to_owned()));
        }
        Some(alive[self.rng.random_range(0..alive.len())].clone())
    }

    fn draw(&mut self) -> Op {
        let kind = self.kinds[self.rng.random_range(0..self.kinds.len())];
        let user = self.rng.random_range(0..self.users.len());
        let n = self.rng.random_range(0..4);
        let mut op = Op {
            kind,
            user,
            id: None,
            text: None,
            n,
        };
        match kind {
            Kind::Store | Kind::Add | Kind::Import => op.text = Some(self.new_key()),
            Kind::Update
            | Kind::MakePrimary
            | Kind::DeleteOne
            | Kind::Test
            | Kind::Budget
            | Kind::Spend => op.id = self.some_id(user),
            Kind::Report => {
                let leases = &self.leases[user];
                if leases.is_empty() {
                    op.kind = Kind::Use;
                } else {
                    let (id, lease) = leases[self.rng.random_range(0..leases.len())].clone();
                    op.id = Some(id);
                    // Now and then a caller from before leases.
                    op.text = (n != 0).then_some(lease);
                }
            }
            Kind::DeleteAll | Kind::Settings | Kind::Use | Kind::Migrate | Kind::Proxy => {}
        }
        op
    }

    /// Runs `ops` at once; what each answered.
    async fn apply(&self, ops: &[Op]) -> Vec<Done> {
        let calls = Calls::of(&self.stack);
        let running: Vec<Boxed<'_>> = ops
            .iter()
            .cloned()
            .map(|op| Box::pin(self.one(calls, op)) as Boxed<'_>)
            .collect();
        futures::future::join_all(running).await
    }

    async fn one(&self, calls: Calls<'_>, op: Op) -> Done {
        let user = self.users[op.user].as_str();
        let id = op.id.as_deref().unwrap_or_default();
        let (status, body) = match op.kind {
            Kind::Store => {
                let key = op.text.as_deref().unwrap();
                calls.store(user, PROVIDER, key, json!({"n": op.n})).await
            }
            Kind::Add => {
                let body = json!({"apiKey": op.text.as_deref().unwrap(), "priority": op.n});
                calls.add_key(user, PROVIDER, body).await
            }
            Kind::Update => {
                calls
                    .update_key(user, PROVIDER, id, json!({"priority": op.n}))
                    .await
            }
            Kind::MakePrimary => {
                calls
                    .update_key(user, PROVIDER, id, json!({"primary": true}))
                    .await
            }
            Kind::DeleteOne => calls.delete_key(user, PROVIDER, id).await,
            Kind::DeleteAll => calls.delete_all(user, PROVIDER).await,
            Kind::Settings => {
                calls
                    .update_settings(user, PROVIDER, json!({"model": format!("m{}", op.n)}))
                    .await
            }
            Kind::Use => (0, calls.use_key(user, PROVIDER).await),
            Kind::Report => {
                let outcome = ["rate_limited", "invalid", "ok", "quota_exceeded"][op.n as usize];
                let body = calls
                    .report(user, PROVIDER, id, outcome, op.text.as_deref())
                    .await;
                (0, body)
            }
            Kind::Test => (0, self.test(user, id).await),
            Kind::Proxy => {
                let marker = format!("model-call-{}", uuid::Uuid::new_v4().simple());
                chat(&self.proxy, user, &marker).await
            }
            Kind::Budget => {
                // 0 removes the budget; else 30, 60 or 90 tokens a month.
                let budget = match op.n {
                    0 => Value::Null,
                    n => json!({"monthlyTokens": 30 * n}),
                };
                calls
                    .update_key(user, PROVIDER, id, json!({ "budget": budget }))
                    .await
            }
            Kind::Spend => {
                let spent = Spent {
                    requests: 1,
                    input_tokens: 6 + 4 * u64::from(op.n),
                    output_tokens: 4,
                };
                let month = month_of(time::OffsetDateTime::now_utc());
                let total = self
                    .stack
                    .state
                    .repo
                    .record_spending(user, ProviderId::OpenAi, id, &month, spent)
                    .await;
                match total {
                    Ok(total) => (0, json!({"total": total.map(|t| t.spent.tokens())})),
                    Err(e) => (0, json!({"error": e.to_string()})),
                }
            }
            Kind::Import => (0, self.import(user, op.text.as_deref().unwrap()).await),
            Kind::Migrate => {
                let report = apikeys_admin::migrate::migrate(
                    &self.source,
                    &self.stack.state.repo,
                    None,
                    None,
                    |_| {},
                )
                .await;
                (
                    0,
                    json!({"ok": report.is_ok(), "report": format!("{report:?}")}),
                )
            }
        };
        Done { op, status, body }
    }

    /// A key test recorded on the key `id` as it is now: a read, then the write
    /// conditional on the envelope it read (what test-key does after the provider's
    /// answer).
    async fn test(&self, user: &str, id: &str) -> Value {
        let items = self.stack.partition(&pk(user)).await;
        let Some(item) = items.iter().find(|i| text(i, "id") == Some(id)) else {
            return json!({"tested": false});
        };
        let (Some(sk), Some(envelope)) = (text(item, "sk"), text(item, "apiKey")) else {
            return json!({"tested": false});
        };
        let recorded = self
            .stack
            .state
            .repo
            .record_validation(user, ProviderId::OpenAi, sk, envelope, &now(), "valid")
            .await;
        match recorded {
            Ok(tested) => json!({"tested": tested}),
            Err(e) => json!({"error": e.to_string()}),
        }
    }

    /// An import of one row with a plaintext key; its id is the row id.
    async fn import(&self, user: &str, key: &str) -> Value {
        let id = uuid::Uuid::new_v4().to_string();
        let row: ExportRow = serde_json::from_value(json!({
            "id": id, "userId": user, "provider": PROVIDER, "apiKey": key, "isActive": true
        }))
        .unwrap();
        let keyring = self.stack.sealing.keys.keyring().await.unwrap();
        match import(&self.stack.state.repo, &keyring, &[row], false).await {
            Ok(report) => {
                json!({"id": id, "imported": report.imported, "failed": report.failed.len()})
            }
            Err(e) => json!({"error": e.to_string()}),
        }
    }

    /// Fails the test with everything needed to replay it.
    fn fail(&self, answers: &[Done], what: String) -> ! {
        let round: Vec<String> = answers
            .iter()
            .map(|d| {
                format!(
                    "  {:?} user{} id={:?} -> {} {}",
                    d.op.kind, d.op.user, d.op.id, d.status, d.body
                )
            })
            .collect();
        panic!(
            "round {}: {what}\nthe round:\n{}\nalive before: {:?}",
            self.rounds,
            round.join("\n"),
            self.alive
        );
    }

    /// The checks after a round (see `main.rs`), then the model moves on.
    async fn check(&mut self, answers: &[Done]) {
        for d in answers {
            if let Some(why) = unexpected(d) {
                self.fail(answers, why);
            }
        }
        for user in 0..self.users.len() {
            let name = self.users[user].clone();
            let mine: Vec<&Done> = answers.iter().filter(|d| d.op.user == user).collect();
            let mut created = BTreeSet::new();
            let mut deleted = BTreeSet::new();
            let mut delete_all = false;
            for d in &mine {
                match (d.op.kind, d.status) {
                    (Kind::Store, 200 | 201) => {
                        let id = d.body["config"]["id"].as_str().unwrap().to_owned();
                        self.plaintexts
                            .entry(id.clone())
                            .or_default()
                            .insert(d.op.text.clone().unwrap());
                        if d.status == 201 {
                            created.insert(id);
                        }
                    }
                    (Kind::Add, 201) => {
                        let id = d.body["key"]["id"].as_str().unwrap().to_owned();
                        self.plaintexts
                            .entry(id.clone())
                            .or_default()
                            .insert(d.op.text.clone().unwrap());
                        created.insert(id);
                    }
                    (Kind::Import, _) if d.body["imported"] == 1 => {
                        let id = d.body["id"].as_str().unwrap().to_owned();
                        self.plaintexts
                            .entry(id.clone())
                            .or_default()
                            .insert(d.op.text.clone().unwrap());
                        created.insert(id);
                    }
                    (Kind::DeleteOne, 204) => {
                        deleted.insert(d.op.id.clone().unwrap());
                    }
                    (Kind::DeleteAll, 204) => delete_all = true,
                    _ => {}
                }
            }
            let before = self.alive[user].clone();
            let old_id = format!("old-{name}");
            let actual = self.check_table(answers, &name).await;
            // A 201 is a kept key; a delete takes what it answered for; nothing
            // appears that no operation made; nothing deleted comes back.
            let must: BTreeSet<String> = if delete_all {
                BTreeSet::new()
            } else {
                before
                    .difference(&deleted)
                    .chain(created.iter())
                    .cloned()
                    .collect()
            };
            if let Some(lost) = must.difference(&actual).next() {
                self.fail(
                    answers,
                    format!("user{user}: the key {lost} was acknowledged and is gone"),
                );
            }
            if delete_all {
                if let Some(kept) = before.intersection(&actual).next() {
                    self.fail(
                        answers,
                        format!("user{user}: {kept} outlived a delete of every key"),
                    );
                }
            }
            for id in &actual {
                let known = before.contains(id) || created.contains(id) || *id == old_id;
                if !known || self.dead.contains(id) {
                    self.fail(
                        answers,
                        format!("user{user}: the key {id} should not be there"),
                    );
                }
            }
            // What use-key handed out.
            let churn = mine.iter().any(|d| {
                matches!(
                    d.op.kind,
                    Kind::DeleteOne
                        | Kind::DeleteAll
                        | Kind::MakePrimary
                        | Kind::Migrate
                        | Kind::Import
                )
            });
            // What may make a spent key usable again within the round: a budget
            // raised or removed, a key stored again.
            let budget_churn = mine.iter().any(|d| {
                matches!(
                    d.op.kind,
                    Kind::Budget | Kind::Store | Kind::Import | Kind::Migrate
                )
            });
            // A call through the proxy took a key as a use does: the same rules, and
            // the provider saw a plaintext stored under that key.
            for d in mine
                .iter()
                .filter(|d| d.op.kind == Kind::Proxy && d.status == 200)
            {
                self.proxied += 1;
                let id = d.body["keyId"].as_str().unwrap_or_default().to_owned();
                let mayhave = before.contains(&id) || created.contains(&id) || id == old_id;
                if d.body["source"] != "user" || !mayhave || self.dead.contains(&id) {
                    self.fail(
                        answers,
                        format!(
                            "user{user}: the proxy called with {id}, not a live key of the user"
                        ),
                    );
                }
                if !budget_churn && self.spent[user].contains(&id) {
                    self.fail(
                        answers,
                        format!("user{user}: the proxy called with {id}, whose budget was spent before the round"),
                    );
                }
                let seen = key_seen(&self.proxy, d.body["marker"].as_str().unwrap_or_default())
                    .unwrap_or_default();
                if !self.plaintexts.get(&id).is_some_and(|p| p.contains(&seen)) {
                    self.fail(
                        answers,
                        format!(
                            "user{user}: the provider saw a key that is none stored under {id}"
                        ),
                    );
                }
            }
            for d in mine.iter().filter(|d| d.op.kind == Kind::Use) {
                if d.body["unavailable"] == "budget_exhausted" {
                    self.budget_refusals += 1;
                }
                if d.body["found"] == true {
                    let id = d.body["keyId"].as_str().unwrap_or_default().to_owned();
                    if !budget_churn && self.spent[user].contains(&id) {
                        self.fail(
                            answers,
                            format!(
                                "user{user}: use-key handed out {id}, whose budget was spent before the round"
                            ),
                        );
                    }
                    let mayhave = before.contains(&id) || created.contains(&id) || id == old_id;
                    if !mayhave || self.dead.contains(&id) {
                        self.fail(
                            answers,
                            format!(
                                "user{user}: use-key handed out {id}, not a live key of the user"
                            ),
                        );
                    }
                    let plain = d.body["apiKey"].as_str().unwrap_or_default();
                    if !self.plaintexts.get(&id).is_some_and(|p| p.contains(plain)) {
                        self.fail(
                            answers,
                            format!("user{user}: use-key's key for {id} is none stored under it"),
                        );
                    }
                    let lease = d.body["lease"].as_str().unwrap_or_default().to_owned();
                    self.leases[user].push((id, lease));
                } else if !churn
                    && !before.is_empty()
                    && matches!(d.body["reason"].as_str(), Some("none" | "inactive"))
                {
                    self.fail(
                        answers,
                        format!("user{user}: use-key found no key while {before:?} were there"),
                    );
                }
            }
            let gone: Vec<String> = before
                .union(&created)
                .filter(|id| !actual.contains(*id))
                .cloned()
                .collect();
            self.dead.extend(gone);
            self.alive[user] = actual;
            self.spent[user] = self.check_api(answers, user).await;
            let leases = &mut self.leases[user];
            if leases.len() > 16 {
                leases.drain(..leases.len() - 16);
            }
        }
    }

    /// The invariants of the table itself for one user's provider; the active ids.
    async fn check_table(&self, answers: &[Done], user: &str) -> BTreeSet<String> {
        let items = self.stack.partition(&pk(user)).await;
        let slot = |i: &Item| text(i, "sk").unwrap_or_default().to_owned();
        let active = |i: &Item| matches!(i.get("isActive"), Some(AttributeValue::Bool(true)));
        let primary = items.iter().find(|i| slot(i) == "primary");
        let others: Vec<&Item> = items
            .iter()
            .filter(|i| slot(i).starts_with("key#"))
            .collect();
        let provider_active = primary.is_some_and(active);
        if !provider_active && !others.is_empty() {
            self.fail(
                answers,
                format!(
                    "{user}: {} keys without an active configuration",
                    others.len()
                ),
            );
        }
        if others.len() > 4 {
            self.fail(
                answers,
                format!("{user}: {} keys besides the primary", others.len()),
            );
        }
        if let Some(p) = primary.filter(|p| active(p)) {
            let count = apikeys_integration_tests::number(p, "keyCount").unwrap_or(0);
            if count != others.len() as i64 {
                self.fail(
                    answers,
                    format!("{user}: keyCount {count} for {} other keys", others.len()),
                );
            }
        }
        if let Some(p) = primary.filter(|p| !active(p)) {
            if p.contains_key("apiKey") {
                self.fail(
                    answers,
                    format!("{user}: a deleted configuration holds a key"),
                );
            }
        }
        let mut ids = BTreeSet::new();
        for item in items.iter().filter(|i| active(i)) {
            if !item.contains_key("apiKey") {
                self.fail(
                    answers,
                    format!("{user}: an active key without its envelope"),
                );
            }
            let id = text(item, "id").unwrap_or_default().to_owned();
            if !ids.insert(id.clone()) {
                self.fail(answers, format!("{user}: the id {id} twice"));
            }
        }
        ids
    }

    /// The list and the keys route show exactly the table's active keys; the ids
    /// of those whose budget is spent.
    async fn check_api(&self, answers: &[Done], user: usize) -> BTreeSet<String> {
        let calls = Calls::of(&self.stack);
        let name = &self.users[user];
        let (status, listed) = calls.list(name).await;
        let providers: Vec<&str> = listed["configs"]
            .as_array()
            .map(|c| c.iter().filter_map(|c| c["provider"].as_str()).collect())
            .unwrap_or_default();
        if status != 200
            || providers
                != (if self.alive[user].is_empty() {
                    vec![]
                } else {
                    vec![PROVIDER]
                })
        {
            self.fail(
                answers,
                format!("user{user}: the list answered {status} {listed}"),
            );
        }
        let (status, keys) = calls.keys(name, PROVIDER).await;
        let listed: BTreeSet<String> = key_ids(&keys).into_iter().collect();
        if status != 200 || listed != self.alive[user] {
            self.fail(
                answers,
                format!("user{user}: the keys route answered {status} {keys}"),
            );
        }
        keys["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|k| k["unavailable"] == "budget_exhausted")
            .filter_map(|k| k["id"].as_str().map(str::to_owned))
            .collect()
    }
}

fn pk(user: &str) -> String {
    format!("{user}#{PROVIDER}")
}

fn now() -> String {
    apikeys::domain::timestamp(time::OffsetDateTime::now_utc())
}

/// Why an answer is not one the operation may give; `None` when it is.
fn unexpected(d: &Done) -> Option<String> {
    let allowed: &[u16] = match d.op.kind {
        Kind::Store => &[200, 201],
        Kind::Add => &[201, 409],
        Kind::Update | Kind::Budget => &[200, 404],
        // Called; or every key marked by a report (invalid 401, quota or budget
        // 402, rate limited 429), expired (403) or missing (404). The fake provider
        // answers every call 200, so a 5xx could only be the proxy's own.
        Kind::Proxy => &[200, 401, 402, 403, 404, 429],
        Kind::MakePrimary => &[200, 404, 409],
        Kind::DeleteOne => &[204, 404, 409],
        Kind::DeleteAll => &[204, 404],
        Kind::Settings => &[200, 404],
        _ => &[0],
    };
    // Any other status (a 500 above all) or an error from use-key or a tool.
    if !allowed.contains(&d.status) || (d.status == 0 && d.body.get("error").is_some()) {
        return Some(format!("{:?} answered {} {}", d.op.kind, d.status, d.body));
    }
    match d.op.kind {
        Kind::Use if !d.body["found"].is_boolean() => Some(format!("use-key answered {}", d.body)),
        Kind::Report => {
            let fine = d.body == json!({"recorded": true})
                || d.body == json!({"recorded": false, "reason": "stale"})
                || d.body == json!({"recorded": false, "reason": "none"});
            (!fine).then(|| format!("a report answered {}", d.body))
        }
        Kind::Migrate if d.body["ok"] != true => Some(format!("migrate-keys failed: {}", d.body)),
        _ => None,
    }
}
