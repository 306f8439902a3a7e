//! Access tokens and the extractors that authenticate and authorise a request by themselves:
//! the token's signature and claims, then the account's standing (a suspension, deactivation or
//! demotion holds from the next request on), then the role.
//!
//! The standing needs the database, so [`resolve_account`] reads it in a middleware before the
//! handler's extractors run: actix polls a handler's extractors together, and an asynchronous
//! check inside one would let a body's validation error answer a stranger before the 401/403.

use std::cell::RefCell;
use std::future::{ready, Ready};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mawid_domain::account::{staff, Role, ACCESS_TOKEN_TTL_SECONDS};
use mawid_persistence::accounts;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;
use crate::AppState;
use mawid_domain::Code;

const ISSUER: &str = "mawid";
const AUDIENCE: &str = "mawid-api";
/// Clock skew tolerated between server processes; jsonwebtoken's default is 60 s.
const LEEWAY_SECONDS: u64 = 5;
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub role: Role,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

#[derive(Debug, thiserror::Error)]
#[error("MAWID_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")]
pub struct WeakSecret;

impl JwtKeys {
    /// jsonwebtoken accepts any key length; the 32-byte floor is ours to enforce.
    pub fn new(secret: &[u8]) -> Result<Self, WeakSecret> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(WeakSecret);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = LEEWAY_SECONDS;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        })
    }

    pub fn issue(&self, user_id: Uuid, role: Role, now: DateTime<Utc>) -> Result<String, ApiError> {
        let claims = Claims {
            sub: user_id,
            role,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now.timestamp(),
            exp: now.timestamp() + ACCESS_TOKEN_TTL_SECONDS,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)
    }

    pub fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|d| d.claims)
    }
}

/// Any signed-in account.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated {
    pub user_id: Uuid,
    pub role: Role,
}

/// A valid token of an account in good standing: the standing is read on every request, so a
/// deactivated or suspended account is refused (and a changed role holds) from the next request on.
async fn authenticate(req: &HttpRequest) -> Result<Authenticated, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("application state missing"))?
        .clone();
    let raw = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::new(
            Code::Unauthenticated,
            "a bearer token is required",
        ))?;
    let token = raw
        .strip_prefix("Bearer ")
        .or_else(|| raw.strip_prefix("bearer "))
        .ok_or(ApiError::new(
            Code::Unauthenticated,
            "use Authorization: Bearer <token>",
        ))?;
    let claims = state.jwt.verify(token.trim()).ok_or(ApiError::new(
        Code::InvalidToken,
        "the access token is invalid or expired",
    ))?;
    let role = accounts::account_standing(&state.pool, claims.sub).await?;
    Ok(Authenticated {
        user_id: claims.sub,
        role,
    })
}

/// What [`resolve_account`] found for a request that carries credentials. A refusal is answered
/// once, by the first extractor that asks.
enum Resolved {
    Admitted(Authenticated),
    Refused(RefCell<Option<ApiError>>),
}

/// Middleware: authenticates a request that carries an `Authorization` header, standing
/// included, before any extractor runs; requests without one pay no database read.
pub async fn resolve_account(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.headers().contains_key(header::AUTHORIZATION) {
        let resolved = match authenticate(req.request()).await {
            Ok(who) => Resolved::Admitted(who),
            Err(e) => Resolved::Refused(RefCell::new(Some(e))),
        };
        req.extensions_mut().insert(std::rc::Rc::new(resolved));
    }
    next.call(req).await
}

fn authenticated(req: &HttpRequest) -> Result<Authenticated, ApiError> {
    let resolved = req.extensions().get::<std::rc::Rc<Resolved>>().cloned();
    match resolved.as_deref() {
        None => Err(ApiError::new(
            Code::Unauthenticated,
            "a bearer token is required",
        )),
        Some(Resolved::Admitted(who)) => Ok(*who),
        Some(Resolved::Refused(e)) => Err(e.borrow_mut().take().unwrap_or_else(|| {
            ApiError::new(Code::InvalidToken, "the access token is invalid or expired")
        })),
    }
}

fn require(req: &HttpRequest, role: Role) -> Result<Authenticated, ApiError> {
    let who = authenticated(req)?;
    if who.role.satisfies(role) {
        Ok(who)
    } else {
        Err(ApiError::forbidden())
    }
}

macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name(pub Authenticated);

        impl $name {
            pub fn id(&self) -> Uuid {
                self.0.user_id
            }
        }

        impl FromRequest for $name {
            type Error = ApiError;
            type Future = Ready<Result<Self, ApiError>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                ready(require(req, $role).map($name))
            }
        }
    };
}

role_extractor!(
    /// A citizen account; staff are refused with 403.
    Citizen,
    Role::Citizen
);
role_extractor!(
    /// An officer or an admin.
    Staff,
    Role::Officer
);
impl Staff {
    /// This employee as the reader of citizens' records: audited, and shown to the citizen by
    /// role only.
    pub fn reader(&self) -> mawid_persistence::access::StaffReader {
        mawid_persistence::access::StaffReader {
            actor_id: self.0.user_id,
            role: self.0.role,
        }
    }
}

role_extractor!(
    /// An admin only.
    Admin,
    Role::Admin
);
role_extractor!(
    /// May create and list staff accounts.
    StaffManager,
    staff::MANAGER_ROLE
);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticated(req))
    }
}
