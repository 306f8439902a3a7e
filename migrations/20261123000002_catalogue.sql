-- The catalogue: consular offices and the services they offer.

CREATE TABLE offices (
    id          uuid PRIMARY KEY,
    code        text NOT NULL CONSTRAINT offices_code_key UNIQUE
                CONSTRAINT offices_code_check CHECK (code ~ '^[A-Z]{3}$'),
    name_ar     text NOT NULL,
    name_ru     text NOT NULL,
    name_en     text NOT NULL,
    address_ar  text NOT NULL,
    address_ru  text NOT NULL,
    address_en  text NOT NULL,
    -- IANA zone name, validated by chrono-tz in the domain before it gets here.
    timezone    text NOT NULL DEFAULT 'Europe/Moscow',
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE services (
    id                          uuid PRIMARY KEY,
    code                        text NOT NULL CONSTRAINT services_code_key UNIQUE
                                CONSTRAINT services_code_check CHECK (code ~ '^[a-z][a-z0-9-]{1,63}$'),
    name_ar                     text NOT NULL,
    name_ru                     text NOT NULL,
    name_en                     text NOT NULL,
    duration_minutes            integer NOT NULL CONSTRAINT services_duration_check CHECK (duration_minutes BETWEEN 5 AND 480),
    -- [{"ar": "...", "ru": "...", "en": "..."}, ...]
    required_documents          jsonb NOT NULL DEFAULT '[]'::jsonb,
    fee_amount                  numeric(12, 2) NOT NULL DEFAULT 0 CONSTRAINT services_fee_check CHECK (fee_amount >= 0),
    fee_currency                text NOT NULL DEFAULT 'USD' CONSTRAINT services_currency_check CHECK (fee_currency ~ '^[A-Z]{3}$'),
    min_notice_hours            integer NOT NULL DEFAULT 24 CONSTRAINT services_notice_check CHECK (min_notice_hours >= 0),
    max_advance_days            integer NOT NULL DEFAULT 60 CONSTRAINT services_advance_check CHECK (max_advance_days BETWEEN 1 AND 366),
    creates_document_request    boolean NOT NULL DEFAULT false,
    -- Days a document request may stay in one status before the staff queue calls it overdue.
    target_days_per_status      integer NOT NULL DEFAULT 7 CONSTRAINT services_target_days_check CHECK (target_days_per_status >= 1),
    active                      boolean NOT NULL DEFAULT true,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now()
);
