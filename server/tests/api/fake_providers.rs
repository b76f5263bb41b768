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
