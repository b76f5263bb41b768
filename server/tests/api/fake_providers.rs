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

    /// The provider's next requests fail as `failure` says (a documented error by name).
    pub fn fail(&self, failure: server::fake_providers::Failure) {
        self.fake.fail(failure).unwrap();
    }

    /// A contact someone typed in HubSpot: its id.
    pub fn hubspot_contact(&self, properties: serde_json::Value) -> String {
        self.fake.hubspot_contact(properties)
    }

    pub fn hubspot_contacts(&self) -> Vec<serde_json::Value> {
        self.fake.hubspot_contacts()
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

/// HubSpot's batches as documented: a batch is validated whole (nothing written) unless every
/// input of a create or upsert names itself with an `objectWriteTraceId`, then 207 record by
/// record; `idProperty` must be unique; each provider's rate-limit headers come with each
/// answer and its limit is enforced.
#[tokio::test]
async fn the_fake_hubspot_answers_from_its_contacts_and_counts_its_rate_limit() {
    use serde_json::json;
    let fake = FakeProvider::start().await;
    let client = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| {
        client
            .post(format!("{}{path}", fake.base))
            .bearer_auth("t")
            .json(&body)
            .send()
    };
    let upsert = "/crm/v3/objects/contacts/batch/upsert";
    let good = json!({ "id": "ana@example.com", "idProperty": "email", "properties": { "firstname": "Ana" } });
    let bad = json!({ "id": "eva@example.com", "idProperty": "email", "properties": { "email": "eva@" } });

    // Not unique: refused.
    let answer = post(
        upsert,
        json!({ "inputs": [{ "id": "7", "idProperty": "lead", "properties": {} }] }),
    )
    .await
    .unwrap();
    assert_eq!(answer.status(), 400);

    // Validated whole without trace ids: nothing written.
    let answer = post(upsert, json!({ "inputs": [good.clone(), bad.clone()] }))
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("INVALID_EMAIL"),
        "{body}"
    );
    assert!(fake.hubspot_contacts().is_empty());

    // Upserts are validated whole even with trace ids; creates that name every input are
    // answered record by record (207), each naming its trace id.
    let mut traced = [good.clone(), bad.clone()];
    traced[0]["objectWriteTraceId"] = json!("1");
    traced[1]["objectWriteTraceId"] = json!("2");
    let answer = post(upsert, json!({ "inputs": traced })).await.unwrap();
    assert_eq!(answer.status(), 400);
    let create = "/crm/v3/objects/contacts/batch/create";
    let creates = json!({ "inputs": [
        { "objectWriteTraceId": "1", "properties": { "email": "ana@example.com" } },
        { "objectWriteTraceId": "2", "properties": { "email": "eva@" } }] });
    let answer = post(create, creates).await.unwrap();
    assert_eq!(answer.status(), 207);
    assert_eq!(answer.headers()["x-hubspot-ratelimit-max"], "100");
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["results"][0]["objectWriteTraceId"], "1");
    assert_eq!(
        body["errors"][0]["context"]["objectWriteTraceId"],
        json!(["2"])
    );
    assert_eq!(fake.hubspot_contacts().len(), 1);
    // Read by e-mail: the one found, and 207 naming the one not found.
    let read = json!({ "idProperty": "email", "properties": ["email"],
                       "inputs": [{ "id": "ANA@example.com" }, { "id": "nadie@example.com" }] });
    let answer = post("/crm/v3/objects/contacts/batch/read", read)
        .await
        .unwrap();
    assert_eq!(answer.status(), 207);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["results"][0]["properties"]["email"], "ana@example.com");
    assert_eq!(
        body["errors"][0]["context"]["ids"],
        json!(["nadie@example.com"])
    );

    // An e-mail another contact has: a conflict naming it.
    let answer = post(
        create,
        json!({ "inputs": [{ "properties": { "email": "ANA@example.com" } }] }),
    )
    .await
    .unwrap();
    assert_eq!(answer.status(), 409);

    // A custom property exists only once created, and once.
    let property = json!({ "name": "lead", "label": "Lead", "type": "string", "fieldType": "text",
                           "groupName": "contactinformation", "hasUniqueValue": true });
    assert_eq!(
        post("/crm/v3/properties/contacts", property.clone())
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        post("/crm/v3/properties/contacts", property)
            .await
            .unwrap()
            .status(),
        409
    );
    let lead = json!({ "inputs": [{ "id": "7", "idProperty": "lead", "properties": { "firstname": "Bea" } }] });
    assert_eq!(post(upsert, lead.clone()).await.unwrap().status(), 200);
    let again: serde_json::Value = post(upsert, lead).await.unwrap().json().await.unwrap();
    assert_eq!(
        again["results"][0]["new"], false,
        "an upsert repeated finds its contact"
    );
    // A bearer without a token is no credential.
    let answer = client
        .get(format!("{}/crm/v3/properties/contacts/lead", fake.base))
        .header("authorization", "Bearer ")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);

    // 100 requests per rolling 10 s: the next is refused with HubSpot's own 429.
    let mut last = None;
    for _ in 0..100 {
        last = Some(
            client
                .get(format!("{}/crm/v3/properties/contacts/lead", fake.base))
                .bearer_auth("t")
                .send()
                .await
                .unwrap(),
        );
    }
    let last = last.unwrap();
    assert_eq!(last.status(), 429);
    assert_eq!(last.headers()["x-hubspot-ratelimit-remaining"], "0");
    let body: serde_json::Value = last.json().await.unwrap();
    assert_eq!(body["policyName"], "TEN_SECONDLY_ROLLING");
    let dial = client
        .post(format!("{}/v1/users/1/dial", fake.base))
        .basic_auth("id", Some("token"))
        .json(&json!({ "to": "+34611223344" }))
        .send()
        .await
        .unwrap();
    assert_eq!(dial.headers()["x-aircallapi-limit"], "60");
    assert_eq!(dial.headers()["x-aircallapi-remaining"], "59");
}

/// Every error the providers document can be had from the fake, and our clients take each as
/// its documentation means it: try later, refuse the one request, or hold the whole account.
#[tokio::test]
async fn every_documented_error_is_answered_and_understood() {
    use app::backend::providers::{aircall, hubspot, whatsapp, CallError};
    use server::fake_providers::{documented, Failure};
    let fake = FakeProvider::start().await;
    let config = app::backend::config::Config::from_lookup(|name| match name {
        "WHATSAPP_ACCESS_TOKEN" | "AIRCALL_API_TOKEN" | "HUBSPOT_ACCESS_TOKEN" => Some("t".into()),
        "WHATSAPP_PHONE_NUMBER_ID" => Some("1".into()),
        "AIRCALL_API_ID" => Some("id".into()),
        "WHATSAPP_API_BASE" | "AIRCALL_API_BASE" | "HUBSPOT_API_BASE" => Some(fake.base.clone()),
        _ => None,
    })
    .unwrap();
    let http = reqwest::Client::new();
    let meta = whatsapp::WhatsappClient::from_config(&config, http.clone()).unwrap();
    let aircall = aircall::AircallClient::from_config(&config, http.clone()).unwrap();
    let hubspot = hubspot::HubspotClient::from_config(&config, http).unwrap();
    let mut seen = 0;
    for (provider, name) in documented::names() {
        fake.fail(Failure {
            provider: provider.into(),
            mode: name.into(),
            count: 1,
            retry_after: None,
            path: None,
        });
        let (result, later, account) = match provider {
            "whatsapp" => {
                let result = meta
                    .send("+34611223344", &whatsapp::Outbound::Text("Hola"))
                    .await
                    .map(|_| ());
                let code: i64 = name.parse().unwrap();
                let later = ["4", "80007", "130429", "131000", "131016", "131056"].contains(&name);
                (result, later, whatsapp::ACCOUNT_WIDE.contains(&code))
            }
            "aircall" => {
                let result = aircall.dial(1, "+34611223344").await;
                (result, ["429", "500"].contains(&name), false)
            }
            _ => {
                // A batch refused whole for a record's data is not an error of the call: the
                // sync splits it. Anything else is.
                let result = match hubspot
                    .batch(
                        hubspot::Batch::Update,
                        vec![serde_json::json!({ "id": "1", "properties": {} })],
                    )
                    .await
                {
                    Ok(hubspot::BatchOutcome::Refused(refusal)) => {
                        assert!(refusal.is_about_a_record(), "{name}: {refusal:?}");
                        Err(CallError::Refused {
                            code: Some(i64::from(refusal.status)),
                            reason: refusal.message,
                        })
                    }
                    other => other.map(|_| ()),
                };
                let later = name.starts_with("429")
                    || name.starts_with('5')
                    || ["423", "477"].contains(&name);
                let account = matches!(&result, Err(CallError::Refused { code, .. }) if hubspot::refuses_the_account(*code));
                (result, later, account)
            }
        };
        match (&result, later) {
            (Err(CallError::Retry { .. }), true) | (Err(CallError::Refused { .. }), false) => {}
            other => panic!("{provider} {name}: {other:?}"),
        }
        let account_expected = match provider {
            "whatsapp" => {
                ["190", "10", "200", "131031", "131042", "132000", "132001"].contains(&name)
            }
            "hubspot" => ["401", "403"].contains(&name),
            _ => false,
        };
        assert_eq!(account, account_expected, "{provider} {name}");
        if let (Err(CallError::Retry { retry_after, .. }), ("aircall", "429")) =
            (&result, (provider, name))
        {
            assert!(
                retry_after.is_some_and(|s| (50..=60).contains(&s)),
                "Aircall's reset is honoured: {retry_after:?}"
            );
        }
        if let (Err(CallError::Retry { retry_after, .. }), "429-daily") = (&result, name) {
            assert_eq!(
                *retry_after,
                Some(3600),
                "the daily limit waits an hour at a time"
            );
        }
        seen += 1;
    }
    assert!(seen >= 30, "{seen}");
    // A mode nobody documents is refused, not silently ignored.
    let answer = reqwest::Client::new()
        .post(format!("{}/_fake/fail", fake.base))
        .json(&serde_json::json!({ "provider": "aircall", "mode": "131047", "count": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
}
