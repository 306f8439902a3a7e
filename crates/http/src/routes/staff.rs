//! Staff accounts, managed by admins.

use actix_web::{web, HttpResponse};
use mawid_domain::account::{Email, FullName, Language, Password, Role};
use mawid_domain::Invalid;
use mawid_persistence::audit::{self, Entry};
use mawid_persistence::users::{self, NewUser};
use serde::Deserialize;
use serde_json::json;

use crate::auth::Admin;
use crate::error::ApiError;
use crate::json::Json;
use crate::routes::accounts::UserView;
use crate::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/staff")
            .post(create_staff)
            .get(list_staff),
    );
}

#[derive(Deserialize)]
struct NewStaff {
    email: String,
    password: String,
    full_name: String,
    role: String,
    preferred_language: Option<String>,
}

async fn create_staff(
    admin: Admin,
    state: web::Data<AppState>,
    body: Json<NewStaff>,
) -> Result<HttpResponse, ApiError> {
    let mut v = Invalid::collect();
    let email = v.check(Email::parse(&body.email));
    let password = v.check(Password::parse(&body.password));
    let full_name = v.check(FullName::parse("full_name", &body.full_name));
    let role = v.check(Role::parse_staff(&body.role));
    let language = v.check(
        body.preferred_language
            .as_deref()
            .map_or(Ok(Language::En), Language::parse),
    );
    v.finish()?;
    let (Some(email), Some(password), Some(full_name), Some(role), Some(language)) =
        (email, password, full_name, role, language)
    else {
        unreachable!("finish() returned Ok, so every field parsed");
    };

    let hash = state.passwords.hash(&password).await?;
    let now = state.now();
    let mut tx = state.pool.begin().await?;
    let user = users::insert(
        &mut *tx,
        NewUser {
            email: &email,
            password_hash: &hash,
            full_name: &full_name,
            language,
            phone: None,
            role,
            // The admin vouches for a staff address; there is no self-service sign-up to verify.
            verified_at: Some(now),
        },
    )
    .await?;
    audit::record(
        &mut *tx,
        Entry {
            actor_id: admin.id(),
            action: "staff.create",
            target_type: "user",
            target_id: user.id.to_string(),
            details: json!({ "role": role.code() }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(UserView::from(user)))
}

async fn list_staff(_admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let staff: Vec<UserView> = users::list_staff(&state.pool)
        .await?
        .into_iter()
        .map(UserView::from)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": staff })))
}
