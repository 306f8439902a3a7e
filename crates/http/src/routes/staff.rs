//! Staff accounts, managed by admins, and the suspension of citizens' accounts.

use actix_web::{web, HttpResponse};
use mawid_domain::account::staff::StaffChange;
use mawid_domain::account::{staff, Email, FullName, Language, NewAccount, Password, Role};
use mawid_domain::text::Reason;
use mawid_domain::Invalid;
use mawid_persistence::{accounts, suspension};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::auth::{Admin, StaffManager};
use crate::error::ApiError;
use crate::json::Json;
use crate::routes::accounts::UserView;
use crate::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/staff")
            .post(create_staff)
            .get(list_staff),
    )
    .service(web::resource("/admin/citizens/{id}/suspend").post(suspend_citizen))
    .service(web::resource("/admin/citizens/{id}/reinstate").post(reinstate_citizen))
    .service(web::resource("/admin/staff/{id}").patch(patch_staff));
}

#[derive(Deserialize)]
struct StaffPatch {
    role: Option<String>,
    active: Option<bool>,
}

async fn patch_staff(
    manager: StaffManager,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: Json<StaffPatch>,
) -> Result<HttpResponse, ApiError> {
    let change = StaffChange::parse(body.role.as_deref(), body.active)?;
    let user = accounts::patch_staff(&state.pool, manager.id(), *id, change, state.now()).await?;
    Ok(HttpResponse::Ok().json(UserView::from(user)))
}

#[derive(Deserialize)]
struct NewStaff {
    email: String,
    password: String,
    full_name: String,
    role: String,
    preferred_language: Option<String>,
}

impl NewStaff {
    fn into_domain(self) -> Result<(NewAccount, Password), Invalid> {
        let mut v = Invalid::collect();
        let email = v.check(Email::parse(&self.email));
        let password = v.check(Password::parse(&self.password));
        let full_name = v.check(FullName::parse("full_name", &self.full_name));
        let role = v.check(Role::parse_staff(&self.role));
        let language = v.check(
            self.preferred_language
                .as_deref()
                .map_or(Ok(staff::DEFAULT_LANGUAGE), Language::parse),
        );
        v.finish()?;
        let (Some(email), Some(password), Some(full_name), Some(role), Some(language)) =
            (email, password, full_name, role, language)
        else {
            unreachable!("finish() returned Ok, so every field parsed");
        };
        let account = NewAccount {
            email,
            full_name,
            language,
            phone: None,
            role,
        };
        Ok((account, password))
    }
}

async fn create_staff(
    manager: StaffManager,
    state: web::Data<AppState>,
    body: Json<NewStaff>,
) -> Result<HttpResponse, ApiError> {
    let (account, password) = body.into_inner().into_domain()?;
    let hash = state.passwords.hash(&password).await?;
    let user =
        accounts::create_staff(&state.pool, manager.id(), &account, &hash, state.now()).await?;
    Ok(HttpResponse::Created().json(UserView::from(user)))
}

async fn list_staff(
    _manager: StaffManager,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let items: Vec<UserView> = accounts::list_staff(&state.pool)
        .await?
        .into_iter()
        .map(UserView::from)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

#[derive(Deserialize)]
struct SuspendIn {
    reason: String,
}

/// Suspends a citizen: future bookings cancelled by staff and mailed, waitlist entries left,
/// tokens and logins refused from the next request on.
async fn suspend_citizen(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: Json<SuspendIn>,
) -> Result<HttpResponse, ApiError> {
    let reason = Reason::parse("reason", &body.reason)?;
    let cancelled = suspension::suspend(&state.pool, admin.id(), *id, &reason, state.now()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "citizen_id": *id,
        "suspended": true,
        "cancelled_bookings": cancelled,
    })))
}

async fn reinstate_citizen(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    suspension::reinstate(&state.pool, admin.id(), *id, state.now()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "citizen_id": *id, "suspended": false })))
}
