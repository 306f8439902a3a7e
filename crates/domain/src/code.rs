//! Every error code the API answers with, and its title: the one table of them. The HTTP status of
//! each is decided in one place of the http crate; `openapi.yaml` lists the same set as the enum of
//! `Problem.code` (a test keeps the two equal).

use std::fmt;

use crate::account::Language;

macro_rules! codes {
    ($($variant:ident => $name:literal,
        en $en:literal, ar $ar:literal, ru $ru:literal;)*) => {
        /// A stable machine code of a problem answer.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as clients read it in `code` and in the problem `type`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $name,)*
                }
            }

            /// A short summary of the problem kind (RFC 9457 `title`) in `lang`, the same for
            /// every occurrence of the code. Each row of the table carries all three languages,
            /// so a code without its translations does not compile.
            pub fn title_in(self, lang: Language) -> &'static str {
                match (self, lang) {
                    $((Code::$variant, Language::En) => $en,
                      (Code::$variant, Language::Ar) => $ar,
                      (Code::$variant, Language::Ru) => $ru,)*
                }
            }
        }
    };
}

codes! {
    // Requests the server cannot read.
    ValidationFailed => "validation_failed",
        en "Invalid request", ar "طلب غير صالح", ru "Некорректный запрос";
    MalformedJson => "malformed_json",
        en "Malformed JSON", ar "صيغة JSON غير سليمة", ru "Некорректный JSON";
    BadRequest => "bad_request",
        en "Bad request", ar "طلب غير مفهوم", ru "Неверный запрос";
    UnsupportedMediaType => "unsupported_media_type",
        en "Unsupported media type", ar "نوع محتوى غير مدعوم", ru "Неподдерживаемый тип содержимого";
    PayloadTooLarge => "payload_too_large",
        en "Request body too large", ar "جسم الطلب كبير جدًا", ru "Слишком большое тело запроса";
    NotFound => "not_found",
        en "Not found", ar "غير موجود", ru "Не найдено";
    MethodNotAllowed => "method_not_allowed",
        en "Method not allowed", ar "الطريقة غير مسموح بها", ru "Метод не разрешён";
    // Who is asking.
    Unauthenticated => "unauthenticated",
        en "Authentication required", ar "يلزم تسجيل الدخول", ru "Требуется аутентификация";
    InvalidToken => "invalid_token",
        en "Invalid access token", ar "رمز الوصول غير صالح", ru "Недействительный токен доступа";
    InvalidCredentials => "invalid_credentials",
        en "Invalid credentials", ar "بيانات الدخول غير صحيحة", ru "Неверные учётные данные";
    InvalidRefreshToken => "invalid_refresh_token",
        en "Invalid refresh token", ar "رمز التحديث غير صالح", ru "Недействительный токен обновления";
    RefreshTokenReused => "refresh_token_reused",
        en "Refresh token reused", ar "أعيد استخدام رمز التحديث", ru "Токен обновления использован повторно";
    InvalidOrExpiredToken => "invalid_or_expired_token",
        en "Invalid or expired token", ar "رمز غير صالح أو منتهي الصلاحية", ru "Недействительный или просроченный код";
    TooManyLoginAttempts => "too_many_login_attempts",
        en "Too many sign-in attempts", ar "محاولات دخول كثيرة جدًا", ru "Слишком много попыток входа";
    Forbidden => "forbidden",
        en "Forbidden", ar "غير مسموح", ru "Доступ запрещён";
    AccountSuspended => "account_suspended",
        en "Account suspended", ar "الحساب موقوف", ru "Учётная запись приостановлена";
    EmailTaken => "email_taken",
        en "Email already registered", ar "البريد الإلكتروني مسجل مسبقًا", ru "Адрес почты уже зарегистрирован";
    RateLimited => "rate_limited",
        en "Too many requests", ar "طلبات كثيرة جدًا", ru "Слишком много запросов";
    // The server itself.
    ServerBusy => "server_busy",
        en "Server busy", ar "الخادم مشغول", ru "Сервер занят";
    DatabaseUnavailable => "database_unavailable",
        en "Database unavailable", ar "قاعدة البيانات غير متاحة", ru "База данных недоступна";
    InternalError => "internal_error",
        en "Internal error", ar "خطأ داخلي", ru "Внутренняя ошибка";
    // Catalogue, schedules and closures.
    UnknownTimezone => "unknown_timezone",
        en "Unknown time zone", ar "منطقة زمنية غير معروفة", ru "Неизвестный часовой пояс";
    OfficeCodeTaken => "office_code_taken",
        en "Office code taken", ar "رمز المكتب مستخدم", ru "Код офиса уже занят";
    ServiceCodeTaken => "service_code_taken",
        en "Service code taken", ar "رمز الخدمة مستخدم", ru "Код услуги уже занят";
    ClosureExists => "closure_exists",
        en "Closure exists", ar "يوم الإغلاق مسجل مسبقًا", ru "Закрытие уже назначено";
    BookingsAffected => "bookings_affected",
        en "Future bookings affected", ar "توجد حجوزات قادمة متأثرة", ru "Затронуты будущие записи";
    RangeTooLong => "range_too_long",
        en "Date range too long", ar "نطاق التواريخ طويل جدًا", ru "Слишком длинный диапазон дат";
    InvalidRange => "invalid_range",
        en "Invalid date range", ar "نطاق تواريخ غير صالح", ru "Неверный диапазон дат";
    // Booking.
    ServiceNotOffered => "service_not_offered",
        en "Service not offered", ar "الخدمة غير متاحة في هذا المكتب", ru "Услуга не предоставляется";
    OffGrid => "off_grid",
        en "Not a slot of the schedule", ar "الموعد ليس ضمن الجدول", ru "Время вне расписания";
    OfficeClosed => "office_closed",
        en "Office closed", ar "المكتب مغلق", ru "Офис закрыт";
    TooSoon => "too_soon",
        en "Too soon", ar "الموعد قريب جدًا", ru "Слишком рано";
    TooFar => "too_far",
        en "Too far ahead", ar "الموعد بعيد جدًا", ru "Слишком далеко вперёд";
    EmailNotVerified => "email_not_verified",
        en "Email not verified", ar "البريد الإلكتروني غير مؤكد", ru "Адрес почты не подтверждён";
    CitizenLimit => "citizen_limit",
        en "Booking limit reached", ar "تم بلوغ حد الحجوزات", ru "Достигнут предел записей";
    ServiceLimit => "service_limit",
        en "Booking limit for the service reached", ar "تم بلوغ حد الحجوزات لهذه الخدمة", ru "Достигнут предел записей на услугу";
    PassportLimit => "passport_limit",
        en "Booking limit for the passport reached", ar "تم بلوغ حد الحجوزات لجواز السفر", ru "Достигнут предел записей по паспорту";
    SlotFull => "slot_full",
        en "Slot full", ar "الموعد محجوز بالكامل", ru "Время полностью занято";
    IdempotencyKeyReused => "idempotency_key_reused",
        en "Idempotency key reused", ar "أعيد استخدام مفتاح عدم التكرار", ru "Ключ идемпотентности использован повторно";
    SameSlot => "same_slot",
        en "Same slot", ar "نفس الموعد", ru "То же самое время";
    NotBooked => "not_booked",
        en "Not booked", ar "الموعد غير محجوز", ru "Запись не активна";
    IllegalTransition => "illegal_transition",
        en "Illegal transition", ar "انتقال غير مسموح", ru "Недопустимый переход";
    RescheduleLimit => "reschedule_limit",
        en "Reschedule limit reached", ar "تم بلوغ حد تغيير الموعد", ru "Достигнут предел переносов";
    BookingSuspended => "booking_suspended",
        en "Booking suspended after no-shows", ar "الحجز موقوف بسبب التغيب عن المواعيد", ru "Запись приостановлена из-за неявок";
    AlreadyWaitlisted => "already_waitlisted",
        en "Already on the waitlist", ar "مسجل مسبقًا في قائمة الانتظار", ru "Уже в листе ожидания";
    ConfirmationNotRequired => "confirmation_not_required",
        en "No confirmation required", ar "لا يلزم تأكيد الحضور", ru "Подтверждение не требуется";
    ConfirmationNotOpen => "confirmation_not_open",
        en "Confirmation not open yet", ar "لم يبدأ وقت التأكيد بعد", ru "Подтверждение ещё не открыто";
    ConfirmationClosed => "confirmation_closed",
        en "Confirmation closed", ar "انتهى وقت التأكيد", ru "Подтверждение закрыто";
    // Document requests.
    UnknownOffice => "unknown_office",
        en "Unknown office", ar "مكتب غير معروف", ru "Неизвестный офис";
    UnknownService => "unknown_service",
        en "Unknown service", ar "خدمة غير معروفة", ru "Неизвестная услуга";
    ServiceNotDocumentary => "service_not_documentary",
        en "Service creates no document request", ar "الخدمة لا تنشئ طلب وثيقة", ru "Услуга не создаёт заявку на документ";
    UnknownAppointment => "unknown_appointment",
        en "Unknown appointment", ar "موعد غير معروف", ru "Неизвестная запись";
    DocumentRequestExists => "document_request_exists",
        en "Document request exists", ar "طلب الوثيقة موجود مسبقًا", ru "Заявка на документ уже существует";
    DocumentRequestLimit => "document_request_limit",
        en "Open document request limit reached", ar "تم بلوغ حد طلبات الوثائق المفتوحة", ru "Достигнут предел открытых заявок на документы";
    ActiveDocumentRequests => "active_document_requests",
        en "The consulate holds your documents", ar "القنصلية تحتفظ بوثائقك", ru "Консульство хранит ваши документы";
    // Notifications.
    NotFailed => "not_failed",
        en "Notification has not failed", ar "لم يفشل إرسال الإشعار", ru "Уведомление не завершилось ошибкой";
    // Staff accounts.
    LastAdmin => "last_admin",
        en "Last active admin", ar "آخر مسؤول نشط", ru "Последний активный администратор";
    AccountDeactivated => "account_deactivated",
        en "Account deactivated", ar "الحساب معطل", ru "Учётная запись отключена";
}

impl Code {
    /// The English title.
    pub fn title(self) -> &'static str {
        self.title_in(Language::En)
    }
}

impl Code {
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == raw)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_code_is_unique_snake_case_and_parses_back() {
        let mut seen = HashSet::new();
        for &c in Code::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} listed twice");
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s} is not snake_case"
            );
            assert_eq!(Code::parse(s), Some(c));
            assert!(!c.title().is_empty());
        }
        assert_eq!(Code::parse("no_such_code"), None);
    }

    #[test]
    fn titles_are_unique_in_each_language_so_each_names_one_kind_of_problem() {
        for lang in Language::ALL {
            let titles: HashSet<&str> = Code::ALL.iter().map(|c| c.title_in(lang)).collect();
            assert_eq!(titles.len(), Code::ALL.len(), "{lang:?}");
        }
    }

    #[test]
    fn arabic_titles_are_written_in_arabic_and_russian_ones_in_cyrillic() {
        let arabic = |ch: char| ('\u{0600}'..='\u{06FF}').contains(&ch);
        let cyrillic = |ch: char| ('\u{0400}'..='\u{04FF}').contains(&ch);
        for &c in Code::ALL {
            assert!(c.title_in(Language::Ar).chars().any(arabic), "{c}");
            assert!(c.title_in(Language::Ru).chars().any(cyrillic), "{c}");
        }
    }
}
