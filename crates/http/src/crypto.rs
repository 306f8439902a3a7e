//! Password hashing off the async workers, and random single-use secrets.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use mawid_domain::account::Password;
use mawid_persistence::accounts::Secret;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::error::ApiError;
use mawid_domain::Code;

/// OWASP's argon2id profile: 19 MiB, two passes, one lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Runs argon2 on the blocking pool with at most one hash per core at a time, so a storm of
/// logins queues here instead of stalling every other request.
pub struct Passwords {
    permits: Arc<Semaphore>,
    dummy_hash: String,
    queue_timeout: Duration,
}

impl Passwords {
    pub fn new(concurrency: usize) -> Self {
        let salt = SaltString::generate(&mut OsRng);
        let dummy_hash = argon2()
            .hash_password(b"not a password anyone has", &salt)
            .expect("hashing a constant succeeds")
            .to_string();
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash,
            queue_timeout: Duration::from_secs(5),
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = tokio::time::timeout(self.queue_timeout, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::new(Code::ServerBusy, "too many sign-ins at once; try again"))?
            .map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(move || {
            let out = f();
            drop(permit);
            out
        })
        .await
        .map_err(ApiError::internal)
    }

    pub async fn hash(&self, password: &Password) -> Result<String, ApiError> {
        let pw = password.expose().to_owned();
        self.blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2()
                .hash_password(pw.as_bytes(), &salt)
                .map(|h| h.to_string())
        })
        .await?
        .map_err(ApiError::internal)
    }

    /// Verifies against the stored hash, or against a dummy one when there is no account, so the
    /// answer takes as long either way.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, ApiError> {
        let pw = password.to_owned();
        let known = stored.is_some();
        let hash = stored.unwrap_or(&self.dummy_hash).to_owned();
        let ok = self
            .blocking(move || {
                PasswordHash::new(&hash)
                    .map(|h| argon2().verify_password(pw.as_bytes(), &h).is_ok())
                    .unwrap_or(false)
            })
            .await?;
        Ok(known && ok)
    }
}

/// A 256-bit random secret, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps of a secret token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh random token with its hash.
pub fn new_secret() -> Secret {
    let token = random_token();
    Secret {
        hash: token_hash(&token),
        token,
    }
}
