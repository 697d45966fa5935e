//! Who signs up: a fake person and their mailbox. The client they use (a
//! browser, a native app, a Goose user) is passed to flows on its own.

use fake::Fake;
use fake::faker::name::en::{FirstName, LastName};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use harness::Mailbox;

/// The domain every fake address is under. It is reserved for testing and
/// delivered only to the stack's SMTP sink.
pub const MAIL_DOMAIN: &str = "orygate.test";

/// Passwords are 20 characters of this alphabet: long enough for Kratos'
/// policy and unlike the address, so the similarity check passes.
const PASSWORD_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-_!";

/// Someone who signs up: fake but deterministic for a seed, with an address
/// unique to the seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub email: String,
    pub password: String,
    pub first_name: String,
    pub last_name: String,
}

impl Person {
    /// The person for `seed`: the same seed gives the same person.
    pub fn fake(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let first_name: String = FirstName().fake_with_rng(&mut rng);
        let last_name: String = LastName().fake_with_rng(&mut rng);
        let email = format!(
            "{}.{}.{seed}@{MAIL_DOMAIN}",
            slug(&first_name),
            slug(&last_name)
        );
        let password = (0..20)
            .map(|_| char::from(PASSWORD_ALPHABET[rng.random_range(0..PASSWORD_ALPHABET.len())]))
            .collect();
        Self {
            email,
            password,
            first_name,
            last_name,
        }
    }
}

impl Person {
    /// The identity traits of the `person` schema in `ory/kratos/`.
    pub fn traits(&self) -> serde_json::Value {
        serde_json::json!({
            "email": self.email,
            "name": { "first": self.first_name, "last": self.last_name },
        })
    }
}

fn slug(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// A person and their inbox at the stack's mail sink.
#[derive(Debug, Clone)]
pub struct User {
    pub person: Person,
    pub mailbox: Mailbox,
}

impl User {
    /// The person for `seed`, whose mail is read from `mailboxes`.
    pub fn fake(seed: u64, mailboxes: &harness::Mailboxes) -> Self {
        let person = Person::fake(seed);
        Self {
            mailbox: mailboxes.open(&person.email),
            person,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_person() {
        assert_eq!(Person::fake(7), Person::fake(7));
        assert_ne!(Person::fake(7).email, Person::fake(8).email);
    }

    #[test]
    fn addresses_are_under_the_test_domain() {
        let p = Person::fake(1);
        assert!(p.email.ends_with("@orygate.test"), "{}", p.email);
        assert!(p.email.contains(".1@"), "{}", p.email);
        assert_eq!(p.password.chars().count(), 20);
    }
}
