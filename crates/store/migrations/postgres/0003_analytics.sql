-- Retention analytics: each refit of the purchase and spend models is recorded with its data
-- window, and per-customer predictions point at the fit that produced them. Figures are
-- scaled integers (ppm, thousandths, minor units): the store holds no floats.
CREATE TABLE analytics_fits (
    version                  BIGINT PRIMARY KEY,
    created_at               BIGINT NOT NULL,
    data_from                BIGINT NOT NULL,
    data_to                  BIGINT NOT NULL,
    observation_end_day      BIGINT NOT NULL,
    customers                BIGINT NOT NULL,
    orders                   BIGINT NOT NULL,
    purchase_model           TEXT NOT NULL,
    purchase_params          TEXT NOT NULL,
    purchase_log_likelihood  TEXT NOT NULL,
    converged                BIGINT NOT NULL CHECK (converged IN (0, 1)),
    spend_params             TEXT,
    spend_log_likelihood     TEXT,
    warnings                 TEXT NOT NULL
);

CREATE TABLE customer_predictions (
    customer_id                   BIGINT PRIMARY KEY REFERENCES customers (id),
    fit_version                   BIGINT NOT NULL REFERENCES analytics_fits (version),
    p_alive_ppm                   BIGINT NOT NULL CHECK (p_alive_ppm BETWEEN 0 AND 1000000),
    expected_purchases_90d_milli  BIGINT NOT NULL CHECK (expected_purchases_90d_milli >= 0),
    clv_12m_minor                 BIGINT,
    rfm_recency                   BIGINT NOT NULL CHECK (rfm_recency BETWEEN 1 AND 5),
    rfm_frequency                 BIGINT NOT NULL CHECK (rfm_frequency BETWEEN 1 AND 5),
    rfm_monetary                  BIGINT NOT NULL CHECK (rfm_monetary BETWEEN 1 AND 5),
    rfm_segment                   TEXT NOT NULL,
    churn_risk                    BIGINT NOT NULL CHECK (churn_risk IN (0, 1))
);
CREATE INDEX customer_predictions_by_segment ON customer_predictions (rfm_segment);
