//! The providers' internet APIs in tests: the crate's fake provider server on a loopback port.

pub use server::fake_providers::Received;
use server::fake_providers::{Answer, FakeProviders};

#[derive(Clone)]
pub struct FakeProvider {
    pub base: String,
    fake: FakeProviders,
}

impl FakeProvider {
    pub async fn start() -> Self {
        let fake = FakeProviders::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = fake.spawn(listener).unwrap();
        Self { base, fake }
    }

    /// The next requests get these answers, in order.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.fake.script(answers);
    }

    pub fn received(&self) -> Vec<Received> {
        self.fake.received()
    }
}

/// The fakes refuse what the real APIs refuse: a test that passed only because a fake was
/// lenient would hide a bug.
#[tokio::test]
async fn the_fakes_refuse_what_the_real_apis_refuse() {
    use serde_json::json;
    let fake = FakeProvider::start().await;
    let client = reqwest::Client::new();
    let post = |path: &str, auth: Option<&str>, body: serde_json::Value| {
        let mut request = client.post(format!("{}{path}", fake.base)).json(&body);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    let text = json!({ "messaging_product": "whatsapp", "to": "+34611223344", "type": "text",
                       "text": { "body": "Hola" } });
    let cases = [
        ("/1/messages", None, text.clone(), 401),
        (
            "/1/messages",
            Some("Bearer t"),
            json!({ "to": "+34611223344", "type": "text", "text": { "body": "Hola" } }),
            400,
        ),
        (
            "/1/messages",
            Some("Bearer t"),
            json!({ "messaging_product": "whatsapp", "type": "template", "template": { "name": "x" } }),
            400,
        ),
        ("/1/messages", Some("Bearer t"), text, 200),
        (
            "/v1/users/1/dial",
            None,
            json!({ "to": "+34611223344" }),
            401,
        ),
        (
            "/v1/users/1/dial",
            Some("Basic aWQ6dG9rZW4="),
            json!({ "to": "+34611223344" }),
            204,
        ),
        (
            "/crm/v3/objects/contacts/batch/update",
            Some("Bearer t"),
            json!({ "inputs": [{ "id": "1", "properties": {} }, { "id": "1", "properties": {} }] }),
            400,
        ),
        (
            "/crm/v3/objects/contacts/batch/create",
            Some("Bearer t"),
            json!({ "inputs": (0..101).map(|_| json!({ "properties": {} })).collect::<Vec<_>>() }),
            400,
        ),
        (
            "/crm/v3/objects/contacts/batch/create",
            Some("Bearer t"),
            json!({ "inputs": [{ "properties": { "phone": "+34611223344" } }] }),
            201,
        ),
    ];
    for (path, auth, body, status) in cases {
        let answer = post(path, auth, body).await.unwrap();
        assert_eq!(answer.status().as_u16(), status, "{path} {auth:?}");
    }
}
