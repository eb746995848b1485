import Foundation
import Services

/// The OpenAPI 3.0 document served at `/v1/openapi.json`, built from one route table that the
/// integration tests walk, so the document and the server cannot drift apart unnoticed.
enum OpenAPIDocument {
    /// One documented route.
    struct Route {
        let method: String
        /// OpenAPI path template, e.g. `/v1/txs/{id}`.
        let path: String
        let summary: String
        let authenticated: Bool
        /// Query parameters: name, required, description.
        var query: [(String, Bool, String)] = []
        /// The request body's media types, if any.
        var body: [String] = []
        /// Success statuses besides errors.
        var success: [String] = ["200"]
        /// Served only by a node that holds records (a vault and custodian keys).
        var needsRecords: Bool { path.hasPrefix("/v1/records") || path.hasPrefix("/v1/patients") || path.hasPrefix("/v1/audit") }
    }

    static let routes: [Route] = [
        Route(method: "get", path: "/healthz", summary: "Liveness: chain id, height and tree size", authenticated: false),
        Route(method: "get", path: "/metrics", summary: "Prometheus metrics", authenticated: false),
        Route(method: "post", path: "/auth/token",
              summary: "SMART Backend Services token: client_credentials with a client assertion (EdDSA JWT) signed by the identity's registered key",
              authenticated: false, body: ["application/x-www-form-urlencoded"]),
        Route(method: "get", path: "/v1/openapi.json", summary: "This document", authenticated: false),
        Route(method: "get", path: "/v1/log/sth", summary: "Signed tree head (RFC 6962 get-sth shape)", authenticated: true),
        Route(method: "get", path: "/v1/log/key", summary: "The node's Ed25519 key that signs tree heads", authenticated: true),
        Route(method: "get", path: "/v1/log/proof-by-hash", summary: "Inclusion proof by base64 leaf hash (RFC 6962 get-proof-by-hash shape)",
              authenticated: true, query: [("hash", true, "base64 SHA-256(0x00 ‖ raw transaction bytes)"), ("tree_size", true, "tree size to prove against")]),
        Route(method: "get", path: "/v1/log/consistency", summary: "Consistency proof between two tree sizes (RFC 6962 get-sth-consistency shape)",
              authenticated: true, query: [("first", true, "older tree size"), ("second", true, "newer tree size")]),
        Route(method: "get", path: "/v1/txs", summary: "Committed transactions, newest first, under `transactions`", authenticated: true,
              query: [("limit", false, "page size, 1…100 (default 20)"), ("before", false, "log index to page back from")]),
        Route(method: "post", path: "/v1/txs", summary: "Submit a signed transaction; with wait=true, answer once durably committed with its inclusion proof",
              authenticated: true, query: [("wait", false, "true to wait for commit"), ("timeout_ms", false, "1…30000 (default 10000)")],
              body: ["application/octet-stream", "application/json"], success: ["200", "202"]),
        Route(method: "get", path: "/v1/txs/{id}", summary: "A committed transaction: sender, contract, method, arguments, result", authenticated: true),
        Route(method: "get", path: "/v1/txs/{id}/raw", summary: "The canonical bytes that form the transaction's log leaf", authenticated: true),
        Route(method: "get", path: "/v1/blocks/head", summary: "The last committed block header", authenticated: true),
        Route(method: "get", path: "/v1/blocks/{height}", summary: "A block header", authenticated: true),
        Route(method: "get", path: "/v1/identities/me", summary: "The identity the bearer token speaks for", authenticated: true),
        Route(method: "get", path: "/v1/identities/{id}", summary: "A registered identity (no PHI: patients have no label)", authenticated: true),
        Route(method: "get", path: "/v1/records/{id}", summary: "A record's on-chain entry and versions (patient, delegate, custodian staff or a permitted reader)",
              authenticated: true),
        Route(method: "get", path: "/v1/records/{id}/release", summary: "Consent decision, durable audit, then the ciphertext with its data key wrapped for the requester",
              authenticated: true, query: [("purpose", false, "HL7 v3 PurposeOfUse code (default TREAT)")]),
        Route(method: "get", path: "/v1/patients/{id}/records", summary: "A patient's records (patient, delegate or custodian staff)", authenticated: true,
              query: [("limit", false, "1…1000 (default 100)"), ("after", false, "the previous page's next_after")]),
        Route(method: "get", path: "/v1/patients/{id}/consents", summary: "A patient's consents, active and revoked (patient or delegate)", authenticated: true,
              query: [("limit", false, "1…1000 (default 100)"), ("after", false, "the previous page's next_after")]),
        Route(method: "get", path: "/v1/patients/{id}/access-log", summary: "Every access decision on the patient's records (patient, delegate or custodian auditors)",
              authenticated: true, query: [("limit", false, "1…1000 (default 100)"), ("after", false, "last index seen")]),
        Route(method: "get", path: "/v1/audit/anomalies",
              summary: "Access-anomaly alerts at the head block's time: reads with no care relationship, read-rate spikes, denials, repeated break-glass (custodian auditors and admins; their own organization's records)",
              authenticated: true, query: AnomalyThresholds().settings.map { ($0.name, false, "\($0.help) (default \($0.value))") }),
        Route(method: "get", path: "/v1/plans/{id}", summary: "A payer's plan: covered codes, allowed amounts (minor units), cost sharing", authenticated: true),
        Route(method: "get", path: "/v1/coverages/{id}", summary: "A coverage and its period's accumulators (patient, delegate or payer staff)",
              authenticated: true),
        Route(method: "get", path: "/v1/authorizations/{id}", summary: "A prior authorization (patient, requesting provider or payer)", authenticated: true),
        Route(method: "get", path: "/v1/supply/products/{gtin}", summary: "A registered product (GTIN) and its manufacturer", authenticated: true),
        Route(method: "get", path: "/v1/supply/serials/{gtin}/{serial}",
              summary: "Verify a serial: genuine or unknown, status (recall and expiry applied), owner, lot, chain of custody, incidents", authenticated: true),
        Route(method: "get", path: "/v1/prescriptions/{id}", summary: "A prescription: drug, quantity, refills, fills used and by which pharmacy (patient, prescriber, pharmacists)",
              authenticated: true),
        Route(method: "get", path: "/v1/trials/{id}", summary: "A trial: protocol versions, pre-registered endpoints, sites, counts, results and outcome-switching flags",
              authenticated: true),
        Route(method: "get", path: "/v1/trials/{id}/participants/{patient}", summary: "A participant's consent and enrollment (patient, delegate, sponsor or site staff)",
              authenticated: true),
        Route(method: "get", path: "/v1/telehealth/sessions/{id}", summary: "A telehealth session as anchored on-chain (participants only)", authenticated: true),
        Route(method: "post", path: "/v1/telehealth/sessions/{id}/messages",
              summary: "Relay a sealed message ({sequence, sealed: base64}); the node never holds the session key (participants only)",
              authenticated: true, body: ["application/json"], success: ["201"]),
        Route(method: "get", path: "/v1/telehealth/sessions/{id}/messages", summary: "Sealed messages after an index (participants only; memory, until the session ends)",
              authenticated: true, query: [("after", false, "last index seen (default -1)")]),
        Route(method: "get", path: "/v1/claims/{id}", summary: "A claim with its adjudication, reasons (CARC) and payments (patient, provider or payer)",
              authenticated: true),
    ]

    /// The document for a server with (or without) the records service.
    static func document(records: Bool) -> [String: Any] {
        var paths: [String: [String: Any]] = [:]
        for route in routes where records || !route.needsRecords {
            var operation: [String: Any] = [
                "summary": route.summary,
                "operationId": route.method + route.path.split(separator: "/").map { $0.replacingOccurrences(of: "{", with: "by-").replacingOccurrences(of: "}", with: "") }
                    .map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined().filter { $0.isLetter || $0.isNumber },
            ]
            var parameters: [[String: Any]] = route.query.map { name, required, description in
                ["name": name, "in": "query", "required": required, "description": description, "schema": ["type": "string"]]
            }
            for name in route.path.split(separator: "/") where name.hasPrefix("{") {
                parameters.append(["name": String(name.dropFirst().dropLast()), "in": "path", "required": true, "schema": ["type": "string"]])
            }
            if !parameters.isEmpty { operation["parameters"] = parameters }
            if !route.body.isEmpty {
                operation["requestBody"] = ["required": true, "content": Dictionary(uniqueKeysWithValues: route.body.map { ($0, ["schema": ["type": "string"]]) })]
            }
            var responses: [String: Any] = [:]
            for status in route.success { responses[status] = ["description": "success", "content": ["application/json": ["schema": ["type": "object"]]]] }
            for status in ["400", "404"] { responses[status] = ["$ref": "#/components/responses/Error"] }
            if route.authenticated {
                responses["401"] = ["$ref": "#/components/responses/Error"]
                responses["403"] = ["$ref": "#/components/responses/Error"]
                operation["security"] = [["bearer": []]]
            } else {
                operation["security"] = [[String: Any]]()
            }
            paths[route.path, default: [:]][route.method] = operation
        }
        return [
            "openapi": "3.0.3",
            "info": ["title": "CareLedger node API", "version": "1",
                     "description": "Every /v1 route except this document needs a bearer token from POST /auth/token."],
            "paths": paths,
            "components": [
                "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer", "bearerFormat": "JWT"]],
                "responses": ["Error": ["description": "error", "content": ["application/json": ["schema": [
                    "type": "object", "required": ["error", "message"],
                    "properties": ["error": ["type": "string"], "message": ["type": "string"]]]]]]],
            ],
        ]
    }
}
