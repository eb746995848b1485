import Contracts
import Foundation
import Services

/// A JSON Schema, in the OpenAPI 3.0 subset the document uses. Objects are closed
/// (`additionalProperties: false`): a field a route adds or drops without the document is a
/// schemathesis failure (`OpenAPIConformanceTests`).
indirect enum Schema: Sendable {
    case string(pattern: String? = nil, maxLength: Int? = nil)
    /// One of these strings.
    case choice([String])
    case integer(minimum: Int64? = nil, maximum: Int64? = nil)
    case boolean
    case array(Schema)
    /// An object with exactly these properties; those in `optional` may be absent.
    case object([(String, Schema)], optional: [String] = [])
    /// An object of any shape (the document itself).
    case anyObject
    /// An object mapping strings to `Schema` (e.g. ids to display names).
    case map(Schema)
    case nullable(Schema)
    /// Any of these schemas.
    case anyOf([Schema])
    /// Any JSON value (a transaction's arguments).
    case any

    static let text = Schema.string()
    /// A 32-byte id or hash as the routes write it: 64 lowercase hex characters.
    static let id = Schema.string(pattern: "^[0-9a-f]{64}$")
    /// A 32-byte id or hash as the routes read it: 64 hex characters.
    static let idParameter = Schema.string(pattern: "^[0-9a-fA-F]{64}$")
    static let hex = Schema.string(pattern: "^[0-9a-f]*$")
    static let base64 = Schema.string(pattern: "^[A-Za-z0-9+/]*={0,2}$")
    /// A count, index, height or size.
    static let count = Schema.integer(minimum: 0)
    /// Milliseconds since 1970, or an amount in minor units.
    static let number = Schema.integer()
    static let texts = Schema.array(.text)

    var json: [String: Any] {
        switch self {
        case .string(let pattern, let maxLength):
            var out: [String: Any] = ["type": "string"]
            if let pattern { out["pattern"] = pattern }
            if let maxLength { out["maxLength"] = maxLength }
            return out
        case .choice(let values): return ["type": "string", "enum": values]
        case .integer(let minimum, let maximum):
            var out: [String: Any] = ["type": "integer", "format": "int64"]
            if let minimum { out["minimum"] = minimum }
            if let maximum { out["maximum"] = maximum }
            return out
        case .boolean: return ["type": "boolean"]
        case .array(let items): return ["type": "array", "items": items.json]
        case .object(let properties, let optional):
            var out: [String: Any] = ["type": "object", "additionalProperties": false,
                                      "properties": Dictionary(uniqueKeysWithValues: properties.map { ($0.0, $0.1.json) })]
            let required = properties.map(\.0).filter { !optional.contains($0) }
            if !required.isEmpty { out["required"] = required }
            return out
        case .anyObject: return ["type": "object"]
        case .map(let values): return ["type": "object", "additionalProperties": values.json]
        case .nullable(let schema):
            var out = schema.json
            out["nullable"] = true
            return out
        case .anyOf(let schemas): return ["anyOf": schemas.map(\.json)]
        case .any: return [:]
        }
    }
}

/// The OpenAPI 3.0 document served at `/v1/openapi.json`, built from one route table that the
/// integration tests walk (and schemathesis fuzzes), so the document and the server cannot drift
/// apart unnoticed.
enum OpenAPIDocument {
    /// A query or path parameter.
    struct Parameter: Sendable {
        let name: String
        let required: Bool
        let description: String
        let schema: Schema
    }

    /// What a success answers: JSON of a schema, or bytes of another media type.
    enum Body: Sendable {
        case json(Schema)
        case media(String, Schema)
    }

    /// One documented route.
    struct Route: Sendable {
        let method: String
        /// OpenAPI path template, e.g. `/v1/txs/{id}`.
        let path: String
        let summary: String
        let authenticated: Bool
        var query: [Parameter] = []
        /// Schemas of the path's `{parameters}` (default: a 64-hex id).
        var pathSchemas: [String: Schema] = [:]
        /// The request body's media types and schemas, if any.
        var body: [(String, Schema)] = []
        /// Success statuses and what they answer.
        var success: [(String, Body)]
        /// Error statuses besides 401 and 403 (which every authenticated route has); each answers `Error`.
        var errors: [String] = ["400", "404"]
        /// Served only by a node that holds records (a vault and custodian keys).
        var needsRecords: Bool { path.hasPrefix("/v1/records") || path.hasPrefix("/v1/patients") || path.hasPrefix("/v1/audit") }
    }

    static func query(_ name: String, _ required: Bool, _ description: String, _ schema: Schema = .text) -> Parameter {
        Parameter(name: name, required: required, description: description, schema: schema)
    }

    static let transactionResult = Schema.object([("code", .count), ("name", .text), ("accepted", .boolean), ("message", .text)])
    /// A transaction as `LedgerView.transaction` shows it: one that does not concern the reader is
    /// `redacted` (id, position and leaf hash only).
    static let transactionSummaryFields: [(String, Schema)] = [
        ("id", .id), ("log_index", .count), ("height", .count), ("leaf_hash", .base64), ("redacted", .boolean),
        ("sender", .id), ("contract", .text), ("method", .text), ("result", transactionResult),
    ]
    static let transactionSummary = Schema.object(transactionSummaryFields, optional: ["redacted", "sender", "contract", "method", "result"])
    static let transaction = Schema.object(transactionSummaryFields + [
        ("sequence", .count), ("public_key", .hex), ("args", .any), ("signature", .hex), ("expiry_height", .count),
    ], optional: ["redacted", "sender", "contract", "method", "result", "sequence", "public_key", "args", "signature", "expiry_height"])
    static let pending = Schema.object([("id", .id), ("status", .choice(["pending", "committed"])), ("message", .text)], optional: ["message"])
    static let committed = Schema.object([
        ("id", .id), ("status", .choice(["committed", "final"])), ("height", .count), ("log_index", .count), ("final", .boolean),
        ("result", transactionResult), ("leaf_hash", .base64), ("tree_size", .count), ("sha256_root_hash", .base64), ("audit_path", .array(.base64)),
    ])
    static let errorSchema = Schema.object([("error", .text), ("message", .text)])
    static let health = Schema.object([
        ("status", .choice(["ok", "halted"])), ("chainId", .text), ("height", .count), ("treeSize", .count), ("stateRoot", .id),
        ("finalHeight", .count), ("quorum", .count), ("refusedAttestations", .count), ("failure", .text), ("divergence", .text),
        ("disagreements", .array(.text)), ("caughtUpBlocks", .count), ("catchUpError", .text),
        ("logRetiredBelow", .count), ("logRetireError", .text),
        ("privatePayloads", .object([("fetched", .count), ("refused", .count)])), ("waitingForPrivatePayload", .id),
        ("checkpoint", .object([("height", .count), ("digest", .id), ("bytes", .count), ("skipped", .count), ("error", .text),
                                ("joinedFrom", .object([("height", .count), ("digest", .id)]))], optional: ["height", "digest", "bytes", "error", "joinedFrom"])),
    ], optional: ["failure", "divergence", "disagreements", "catchUpError", "logRetiredBelow", "logRetireError", "waitingForPrivatePayload", "checkpoint"])
    static let release = Schema.object([
        ("record", record), ("decision", .object([("outcome", .text), ("reason", .text)])), ("audit_index", .count),
        ("sealed_record", .base64), ("wrapped_key", .base64), ("note", .text),
    ])
    static let block = Schema.object([
        ("height", .count), ("hash", .id), ("previous_hash", .id), ("time_ms", .number), ("transaction_count", .count),
        ("transactions_root", .id), ("tree_size", .count), ("sha256_root_hash", .base64), ("results_root", .id), ("state_root", .id),
        ("orderer_key", .hex), ("chain_id", .text),
    ])
    static let identity = Schema.object([
        ("id", .id), ("kind", .text), ("roles", .texts), ("revoked", .boolean), ("signing_key", .hex), ("agreement_key", .hex),
        ("registered_height", .count), ("label", .text), ("organization", .id), ("organization_type", .text), ("next_sequence", .count),
    ], optional: ["label", "organization", "organization_type", "next_sequence"])
    static let recordFields: [(String, Schema)] = [
        ("record", .id), ("resource_type", .text), ("category", .text), ("author", .id), ("custodian", .id), ("ciphertext_hash", .id),
        ("version", .count), ("height", .count), ("time_ms", .number), ("erased", .boolean), ("patient", .id), ("erased_height", .count),
    ]
    static let record = Schema.object(recordFields, optional: ["patient", "erased_height"])
    static let recordWithVersions = Schema.object(recordFields + [("versions", .array(.object([
        ("version", .count), ("ciphertext_hash", .id), ("author", .id), ("height", .count), ("time_ms", .number),
    ])))], optional: ["patient", "erased_height"])
    static let consent = Schema.object([
        ("id", .id), ("patient", .id), ("grantor", .id),
        ("grantee", .object([("kind", .choice(["member", "organization", "role"])), ("id", .id), ("role", .text)], optional: ["id", "role"])),
        ("categories", .texts), ("resource_types", .texts), ("records", .array(.id)), ("purposes", .texts), ("actions", .texts),
        ("start_ms", .number), ("granted_height", .count), ("active", .boolean), ("end_ms", .number), ("revoked_height", .count),
    ], optional: ["end_ms", "revoked_height"])
    static let accessLogEntry = Schema.object([
        ("index", .count), ("time_ms", .number), ("requester", .id), ("record", .id), ("version", .count), ("purpose", .text),
        ("action", .text), ("outcome", .text), ("reason", .text), ("consent", .id), ("sealed_justification", .base64),
    ], optional: ["consent", "sealed_justification"])
    static let plan = Schema.object([
        ("id", .text), ("payer", .id), ("currency", .text), ("deductible_minor", .number), ("coinsurance_basis_points", .number),
        ("out_of_pocket_max_minor", .number), ("diagnosis_prefixes", .texts), ("height", .count),
        ("benefits", .array(.object([("code", .text), ("allowed_minor", .number), ("prior_auth", .boolean), ("units_per_period", .nullable(.number))]))),
    ])
    static let coverage = Schema.object([
        ("id", .id), ("patient", .id), ("plan", .text), ("start_ms", .number), ("end_ms", .number), ("terminated_ms", .nullable(.number)),
        ("deductible_met_minor", .number), ("out_of_pocket_minor", .number), ("units_used", .map(.number)), ("currency", .text),
    ])
    static let authorizationFields: [(String, Schema)] = [
        ("id", .id), ("patient", .id), ("plan", .text), ("provider", .id), ("code", .text), ("quantity", .number), ("status", .text),
        ("remaining", .number), ("valid_until_ms", .nullable(.number)), ("denial_reason", .nullable(.text)),
    ]
    static let authorization = Schema.object(authorizationFields)
    static let claim = Schema.object(claimFields)
    /// The payer's work lists (`GET /v1/payer/…`): claims with their reasons' CARC meanings, authorizations with their block.
    static let queuedClaim = Schema.object(claimFields + [("reasons", .array(.object([("reason", .text), ("carc", .text), ("text", .text), ("denies", .boolean)])))])
    static let queuedAuthorization = Schema.object(authorizationFields + [("height", .count)])
    static let claimFields: [(String, Schema)] = [
        ("id", .id), ("patient", .id), ("provider", .id), ("submitter", .id), ("plan", .text), ("coverage", .nullable(.id)), ("claim_hash", .id),
        ("diagnoses", .texts), ("outcome", .text), ("currency", .text), ("height", .count), ("time_ms", .number),
        ("items", .array(.object([("sequence", .number), ("code", .text), ("quantity", .number), ("unit_price_minor", .number),
                                  ("service_ms", .number), ("record", .id)]))),
        ("lines", .array(.object([("sequence", .number), ("submitted_minor", .number), ("eligible_minor", .number), ("units_allowed", .number),
                                  ("patient_minor", .number), ("payer_minor", .number),
                                  ("adjustments", .array(.object([("reason", .text), ("carc", .text), ("amount_minor", .number), ("units", .number)])))]))),
        ("submitted_minor", .number), ("eligible_minor", .number), ("patient_minor", .number), ("payer_minor", .number), ("paid_minor", .number),
        ("payments", .array(.object([("amount_minor", .number), ("reference", .id), ("height", .count), ("time_ms", .number)]))),
    ]
    static let names = Schema.map(.text)
    static let verification = Schema.object([
        ("id", .id), ("verdict", .text), ("incident", .boolean), ("gtin", .text), ("serial", .text), ("organization", .nullable(.id)),
        ("requester", .nullable(.id)), ("marked_suspect", .boolean), ("height", .count), ("time_ms", .number), ("lot", .nullable(.text)),
        ("expiry_ms", .nullable(.number)),
    ])
    static let serial = Schema.object([
        ("gtin", .text), ("serial", .text), ("sgtin", .text), ("known", .boolean), ("in_good_standing", .boolean), ("status", .text),
        ("stored_status", .nullable(.text)), ("product", .nullable(.text)), ("lot", .nullable(.text)), ("expiry_ms", .nullable(.number)),
        ("usable_through", .nullable(.text)), ("manufacturer", .nullable(.id)), ("owner", .nullable(.id)), ("pending_recipient", .nullable(.id)),
        ("case", .nullable(.text)), ("recalled", .boolean),
        ("recall", .nullable(.object([("reason", .text), ("organization", .nullable(.id)), ("height", .count), ("time_ms", .number)]))),
        ("incident_count", .count), ("incidents", .array(.id)), ("incident_records", .array(verification)),
        ("custody", .array(.object([("kind", .text), ("from", .nullable(.id)), ("to", .nullable(.id)), ("detail", .nullable(.text)),
                                    ("height", .count), ("time_ms", .number)]))),
        ("names", names), ("verdict", .text), ("verdict_text", .text), ("as_of_ms", .number),
    ])
    static let prescription = Schema.object([
        ("id", .id), ("prescriber", .nullable(.id)), ("organization", .nullable(.id)), ("patient", .id), ("medication_request_hash", .id),
        ("gtin", .text), ("product", .nullable(.text)), ("quantity", .number), ("refills", .number), ("fills_allowed", .number),
        ("issued_height", .count), ("issued_ms", .number), ("expires_ms", .number), ("status", .text), ("fills_used", .number),
        ("fills_remaining", .number), ("cancelled_height", .nullable(.count)), ("cancelled_by", .nullable(.id)),
        ("pharmacies", .nullable(.array(.id))),
        ("fills", .array(.object([("number", .number), ("pharmacy", .nullable(.id)), ("by", .nullable(.id)), ("height", .count),
                                  ("time_ms", .number), ("units", .texts)]))),
        ("names", names),
    ])
    static let trial = Schema.object([
        ("id", .text), ("sponsor", .id), ("participants", .count), ("data_batches", .count), ("height", .count),
        ("versions", .array(.object([("version", .count), ("protocol_hash", .id), ("consent_form_version", .count), ("primary_endpoints", .texts),
                                     ("secondary_endpoints", .texts), ("sites", .array(.id)), ("reason", .nullable(.text)), ("height", .count)]))),
        ("results", .array(.object([("index", .count), ("primary_endpoints", .texts), ("results_hash", .id), ("protocol_version", .count),
                                    ("height", .count), ("flagged", .boolean),
                                    ("outcome_switching", .object([("added", .texts), ("dropped", .texts), ("never_registered", .texts)]))],
                                   optional: ["outcome_switching"]))),
    ])
    static let participant = Schema.object([
        ("trial", .text), ("patient", .id), ("status", .text), ("consent_form_version", .count), ("recruitment_contact", .boolean),
        ("enrolled_site", .nullable(.id)), ("enrolled_height", .nullable(.count)), ("withdrawn_height", .nullable(.count)),
    ])
    static let participantInTrial = Schema.object([
        ("trial", .text), ("patient", .id), ("status", .text), ("consent_form_version", .count), ("recruitment_contact", .boolean),
        ("enrolled_site", .nullable(.id)), ("enrolled_height", .nullable(.count)), ("withdrawn_height", .nullable(.count)),
        ("sponsor", .id), ("current_consent_form_version", .nullable(.count)),
    ])
    static let session = Schema.object([
        ("id", .id), ("clinician", .id), ("organization", .id), ("patient", .id), ("consent_to_record", .boolean), ("key_commitment", .id),
        ("start_ms", .number), ("status", .text), ("opened_height", .count), ("end_ms", .nullable(.number)), ("transcript_hash", .nullable(.id)),
        ("message_count", .nullable(.count)), ("ended_height", .nullable(.count)),
    ])
    static let anomalyAlert = Schema.object([
        ("rule", .text), ("member", .id), ("roles", .texts), ("window", .object([("start_ms", .number), ("end_ms", .number)])),
        ("count", .count), ("threshold", .count), ("evidence_total", .count),
        ("evidence", .array(.object([("index", .count), ("time_ms", .number), ("outcome", .text), ("reason", .text)]))),
        ("organization", .id), ("kind", .text),
        ("baselines", .object([("own_windows", .count), ("role", .text), ("role_samples", .count), ("exceeded", .texts),
                               ("own_median", .count), ("role_median", .count)], optional: ["own_median", "role_median"])),
    ], optional: ["organization", "kind", "baselines"])
    static let anomalyReport = Schema.object([
        ("now_ms", .number), ("height", .count), ("scanned", .count), ("considered", .count), ("truncated", .boolean),
        ("alerts_total", .count), ("thresholds", .map(.text)), ("alerts", .array(anomalyAlert)),
    ])
    static let page = query("limit", false, "page size, 1…1000 (default 100)", .integer(minimum: 1, maximum: 1_000))
    static let gtin = Schema.string(pattern: "^[0-9]{14}$")

    static let routes: [Route] = [
        Route(method: "get", path: "/healthz", summary: "Liveness: chain id, height, tree size, state root, finality; 503 once the node halted",
              authenticated: false,
              success: [("200", .json(health)), ("503", .json(health))],
              errors: []),
        Route(method: "get", path: "/metrics", summary: "Prometheus metrics", authenticated: false,
              success: [("200", .media("text/plain", .text))], errors: []),
        Route(method: "post", path: "/auth/token",
              summary: "SMART Backend Services token: client_credentials with a client assertion (EdDSA JWT) signed by the identity's registered key",
              authenticated: false,
              body: [("application/x-www-form-urlencoded", .object([
                  ("grant_type", .choice(["client_credentials"])),
                  ("client_assertion_type", .choice(["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"])),
                  ("client_assertion", .text), ("scope", .text),
              ], optional: ["scope"]))],
              success: [("200", .json(.object([("access_token", .text), ("token_type", .choice(["bearer"])), ("expires_in", .count),
                                               ("scope", .text), ("identity", .id)])))],
              errors: ["400", "413", "415", "429", "503"]),
        Route(method: "get", path: "/v1/openapi.json", summary: "This document", authenticated: false,
              success: [("200", .json(.anyObject))], errors: []),
        Route(method: "get", path: "/v1/log/sth", summary: "Signed tree head (RFC 6962 get-sth shape)", authenticated: true,
              success: [("200", .json(.object([("tree_size", .count), ("timestamp", .number), ("sha256_root_hash", .base64),
                                               ("tree_head_signature", .base64)])))],
              errors: []),
        Route(method: "get", path: "/v1/log/attested-sth",
              summary: "The tree head of the final block, with the attestations of the organizations that made it final "
                  + "(each an Ed25519 signature by the organization's registered key over signed_message)",
              authenticated: true,
              success: [("200", .json(.object([("height", .count), ("tree_size", .count), ("timestamp", .number), ("sha256_root_hash", .base64),
                                               ("block_hash", .id), ("state_root", .id), ("quorum", .count),
                                               ("attestations", .array(.object([("attester", .id), ("signature", .base64), ("signed_message", .base64)])))])))],
              errors: ["404"]),
        Route(method: "get", path: "/v1/log/key", summary: "The node's Ed25519 key that signs tree heads", authenticated: true,
              success: [("200", .json(.object([("node", .id), ("ed25519", .base64), ("signature_scheme", .text), ("signed", .text)])))],
              errors: []),
        Route(method: "get", path: "/v1/log/proof-by-hash", summary: "Inclusion proof by base64 leaf hash (RFC 6962 get-proof-by-hash shape)",
              authenticated: true,
              query: [query("hash", true, "base64 SHA-256(0x00 ‖ raw transaction bytes)"),
                      query("tree_size", true, "tree size to prove against", .integer(minimum: 1))],
              success: [("200", .json(.object([("leaf_index", .count), ("audit_path", .array(.base64))])))]),
        Route(method: "get", path: "/v1/log/consistency", summary: "Consistency proof between two tree sizes (RFC 6962 get-sth-consistency shape)",
              authenticated: true,
              query: [query("first", true, "older tree size", .integer(minimum: 1)), query("second", true, "newer tree size", .integer(minimum: 1))],
              success: [("200", .json(.object([("consistency", .array(.base64))])))], errors: ["400"]),
        Route(method: "get", path: "/v1/txs", summary: "Committed transactions, newest first, under `transactions`", authenticated: true,
              query: [query("limit", false, "page size, 1…100 (default 20)", .integer(minimum: 1, maximum: Int64(ServerLimits.transactionsPageMax))),
                      query("before", false, "log index to page back from (default: the tree size)", .count)],
              success: [("200", .json(.object([("transactions", .array(transactionSummary)), ("tree_size", .count), ("next", .text)],
                                              optional: ["next"])))],
              errors: ["400"]),
        Route(method: "post", path: "/v1/txs",
              summary: "Submit a signed transaction; with wait=committed (or true), answer once durably committed with its inclusion proof; "
                  + "with wait=final, once a quorum of organizations attested its block",
              authenticated: true,
              query: [query("wait", false, "committed (or true) to wait for commit, final for finality", .choice(["false", "true", "committed", "final"])),
                      query("timeout_ms", false, "1…30000 (default 10000)", .integer(minimum: 1, maximum: Int64(ServerLimits.commitWaitMsMax)))],
              body: [("application/octet-stream", .string()),
                     ("application/json", .object([("transaction", .base64), ("private", .base64)], optional: ["private"]))],
              success: [("200", .json(committed)), ("202", .json(pending)), ("422", .json(.anyOf([committed, errorSchema])))],
              errors: ["400", "409", "413", "415", "503"]),
        Route(method: "post", path: "/v1/endorse",
              summary: "Consortium node: simulate the requester's own private call (its arguments the private envelope) here and at the nodes of "
                  + "the other organizations it names, which sign the same outcome; answers the endorsed arguments (base64) to sign and post to "
                  + "/v1/txs with the same sequence number and payload",
              authenticated: true,
              body: [("application/json", .object([("transaction", .base64), ("private", .base64)]))],
              success: [("200", .json(.object([("args", .base64), ("call_id", .text), ("sequence", .count), ("organizations", .array(.text)),
                                               ("simulated_height", .count), ("simulated_time_ms", .number), ("reads", .count),
                                               ("shared_writes", .count)])))],
              errors: ["400", "403", "409", "422", "503"]),
        Route(method: "post", path: "/v1/peer/endorse",
              summary: "Node to node (peer listener): simulate another organization's node's proposal on this replica and sign it if the outcome "
                  + "is the same; the canonical request is signed for its SHA-256 like /v1/private/{id}",
              authenticated: false,
              body: [("application/octet-stream", .string())],
              success: [("200", .media("application/octet-stream", .string()))], errors: ["400", "401", "403", "404", "409", "422", "503"]),
        Route(method: "get", path: "/v1/private/{id}",
              summary: "Node to node: a committed private call's payload, for the node of an organization its envelope names; the request is "
                  + "signed with the organization's key in the CareLedger-Organization, CareLedger-Time and CareLedger-Signature headers",
              authenticated: false,
              success: [("200", .media("application/octet-stream", .string()))], errors: ["400", "401", "403", "404", "503"]),
        Route(method: "get", path: "/v1/blocks",
              summary: "Node to node: committed blocks from a height (header and transactions as canonical bytes), for another organization's "
                  + "node catching up past etcd's compaction; signed with its organization's key like /v1/private/{id}",
              authenticated: false,
              query: [query("from", false, "first height (default 1)", .integer(minimum: 1)),
                      query("limit", false, "most blocks, 1…256 (default 256)", .integer(minimum: 1, maximum: Int64(PeerBlockService.blocksMax)))],
              success: [("200", .json(.object([
                  ("blocks", .array(.object([("height", .count), ("header", .base64), ("transactions", .array(.base64))]))),
                  ("head", .count), ("position", .number),
              ], optional: ["position"])))],
              errors: ["400", "401", "403", "503"]),
        Route(method: "get", path: "/v1/snapshots/{height}",
              summary: "Node to node: a piece (at most 8 MiB, from `offset`) of this node's checkpoint snapshot at a height, for a joining "
                  + "organization's node; the CareLedger-Snapshot-Bytes header gives the whole length; signed with its organization's key like /v1/private/{id}",
              authenticated: false,
              query: [query("offset", false, "first byte (default 0)", .integer(minimum: 0))], pathSchemas: ["height": .count],
              success: [("200", .media("application/octet-stream", .string()))], errors: ["400", "401", "403", "404", "503"]),
        Route(method: "get", path: "/v1/txs/{id}", summary: "A committed transaction: sender, contract, method, arguments, result", authenticated: true,
              success: [("200", .json(transaction))]),
        Route(method: "get", path: "/v1/txs/{id}/raw", summary: "The canonical bytes that form the transaction's log leaf", authenticated: true,
              success: [("200", .media("application/octet-stream", .string()))]),
        Route(method: "get", path: "/v1/blocks/head", summary: "The last committed block header", authenticated: true,
              success: [("200", .json(block))], errors: []),
        Route(method: "get", path: "/v1/blocks/{height}", summary: "A block header", authenticated: true, pathSchemas: ["height": .count],
              success: [("200", .json(block))]),
        Route(method: "get", path: "/v1/identities/me", summary: "The identity the bearer token speaks for", authenticated: true,
              success: [("200", .json(identity))], errors: []),
        Route(method: "get", path: "/v1/identities/{id}", summary: "A registered identity (no PHI: patients have no label)", authenticated: true,
              success: [("200", .json(identity))]),
        Route(method: "get", path: "/v1/records/{id}", summary: "A record's on-chain entry and versions (patient, delegate, custodian staff or a permitted reader)",
              authenticated: true, success: [("200", .json(recordWithVersions))], errors: ["400", "404", "503"]),
        Route(method: "get", path: "/v1/records/{id}/release", summary: "Consent decision, durable audit, then the ciphertext with its data key wrapped for the requester"
                  + " (on a consortium node, a record another organization holds is asked of its custodian's node)",
              authenticated: true,
              query: [query("purpose", false, "HL7 v3 PurposeOfUse code (default TREAT)", .choice(Purpose.allCases.map(\.rawValue)))],
              success: [("200", .json(release))],
              errors: ["400", "404", "410", "503"]),
        Route(method: "get", path: "/v1/peer/records/{id}/release",
              summary: "Node to node: the custodian's decision, logged, and the release for a member of the asking organization; "
                  + "signed with that organization's key like /v1/private/{id}",
              authenticated: false,
              query: [query("requester", true, "the reading identity's id (the organization or one of its members)", .id),
                      query("purpose", false, "HL7 v3 PurposeOfUse code (default TREAT)", .choice(Purpose.allCases.map(\.rawValue))),
                      query("seen", false, "the asking node's height: the custodian decides once it has committed that far (waiting up to 2 s)",
                            .integer(minimum: 0))],
              success: [("200", .json(release))],
              errors: ["400", "401", "403", "404", "503"]),
        Route(method: "get", path: "/v1/patients/{id}/records", summary: "A patient's records (patient, delegate or custodian staff)", authenticated: true,
              query: [page, query("after", false, "the previous page's next_after")],
              success: [("200", .json(.object([("records", .array(record)), ("next_after", .text)], optional: ["next_after"])))],
              errors: ["400", "503"]),
        Route(method: "get", path: "/v1/patients/{id}/consents", summary: "A patient's consents, active and revoked (patient or delegate)", authenticated: true,
              query: [page, query("after", false, "the previous page's next_after")],
              success: [("200", .json(.object([("consents", .array(consent)), ("next_after", .text)], optional: ["next_after"])))],
              errors: ["400", "503"]),
        Route(method: "get", path: "/v1/patients/{id}/access-log", summary: "Every access decision on the patient's records (patient, delegate or custodian auditors)",
              authenticated: true, query: [page, query("after", false, "last index seen", .count)],
              success: [("200", .json(.object([("entries", .array(accessLogEntry))])))], errors: ["400", "503"]),
        Route(method: "get", path: "/v1/patients/{id}/claims", summary: "A patient's adjudicated claims, each as /v1/claims/{id} shows it (patient or delegate; each shown is logged)",
              authenticated: true, success: [("200", .json(.object([("claims", .array(claim))])))], errors: ["400", "403", "503"]),
        Route(method: "get", path: "/v1/patients/{id}/prescriptions",
              summary: "A patient's prescriptions, newest first, each as /v1/prescriptions/{id} shows it (patient or delegate; each shown is logged; complete: false when the scan stopped)",
              authenticated: true, success: [("200", .json(.object([("prescriptions", .array(prescription)), ("complete", .boolean)])))],
              errors: ["400", "403", "503"]),
        Route(method: "get", path: "/v1/patients/{id}/trials",
              summary: "The trials a patient consented to, each as /v1/trials/{id}/participants/{patient} shows it, with the sponsor and the current consent-form version (patient or delegate; each shown is logged)",
              authenticated: true,
              success: [("200", .json(.object([("trials", .array(participantInTrial)), ("complete", .boolean)])))], errors: ["400", "403", "503"]),
        Route(method: "get", path: "/v1/audit/anomalies",
              summary: "Access-anomaly alerts at the head block's time: reads with no care relationship, read-rate spikes, denials, repeated break-glass (custodian auditors and admins; their own organization's records)",
              authenticated: true,
              query: AnomalyThresholds().settings.map { setting in
                  query(setting.name, false, "\(setting.help) (default \(setting.value))", setting.value == "true" || setting.value == "false" ? .boolean : .integer(minimum: 1))
              },
              success: [("200", .json(anomalyReport))], errors: ["400", "503"]),
        Route(method: "get", path: "/v1/plans/{id}", summary: "A payer's plan: covered codes, allowed amounts (minor units), cost sharing", authenticated: true,
              pathSchemas: ["id": .text], success: [("200", .json(plan))], errors: ["404"]),
        Route(method: "get", path: "/v1/coverages/{id}", summary: "A coverage and its period's accumulators (patient, delegate or payer staff)",
              authenticated: true, query: [query("patient", true, "the patient's id", .id), query("member", true, "the member id the payer issued", .id)],
              success: [("200", .json(coverage))], errors: ["400", "404", "503"]),
        Route(method: "get", path: "/v1/authorizations/{id}", summary: "A prior authorization (patient, requesting provider or payer)", authenticated: true,
              success: [("200", .json(authorization))], errors: ["400", "404", "503"]),
        Route(method: "get", path: "/v1/supply/products/{gtin}", summary: "A registered product (GTIN) and its manufacturer", authenticated: true,
              pathSchemas: ["gtin": gtin],
              success: [("200", .json(.object([("gtin", .text), ("label", .text), ("manufacturer", .id), ("height", .count)])))], errors: ["404"]),
        Route(method: "get", path: "/v1/supply/serials/{gtin}/{serial}",
              summary: "Verify a serial: genuine or unknown, status (recall and expiry applied), owner, lot, chain of custody, incidents", authenticated: true,
              pathSchemas: ["gtin": gtin, "serial": .string(pattern: "^[A-Za-z0-9._-]{1,20}$")], success: [("200", .json(serial))], errors: ["400"]),
        Route(method: "get", path: "/v1/prescriptions/{id}", summary: "A prescription: drug, quantity, refills, fills used and by which pharmacy (patient, prescriber, pharmacists)",
              authenticated: true, success: [("200", .json(prescription))], errors: ["400", "404", "503"]),
        Route(method: "get", path: "/v1/trials/{id}", summary: "A trial: protocol versions, pre-registered endpoints, sites, counts, results and outcome-switching flags",
              authenticated: true, pathSchemas: ["id": .text], success: [("200", .json(trial))], errors: ["404"]),
        Route(method: "get", path: "/v1/trials/{id}/participants/{patient}", summary: "A participant's consent and enrollment (patient, delegate, sponsor or site staff)",
              authenticated: true, pathSchemas: ["id": .text], success: [("200", .json(participant))], errors: ["400", "404", "503"]),
        Route(method: "get", path: "/v1/telehealth/sessions/{id}", summary: "A telehealth session as anchored on-chain (participants only)", authenticated: true,
              success: [("200", .json(session))], errors: ["400", "404", "503"]),
        Route(method: "post", path: "/v1/telehealth/sessions/{id}/messages",
              summary: "Relay a sealed message ({sequence, sealed: base64}); the node never holds the session key (participants only)",
              authenticated: true, body: [("application/json", .object([("sequence", .count), ("sealed", .base64)]))],
              success: [("201", .json(.object([("index", .count)])))], errors: ["400", "404", "409", "413"]),
        Route(method: "get", path: "/v1/telehealth/sessions/{id}/messages", summary: "Sealed messages after an index (participants only; memory, until the session ends)",
              authenticated: true, query: [query("after", false, "last index seen (default -1)", .integer(minimum: -1))],
              success: [("200", .json(.object([("session", .id), ("status", .text), ("messages", .array(.object([
                  ("index", .count), ("sender", .id), ("sequence", .count), ("sealed", .base64), ("received_ms", .number),
              ])))])))]),
        Route(method: "get", path: "/v1/claims/{id}", summary: "A claim with its adjudication, reasons (CARC) and payments (patient, provider or payer)",
              authenticated: true, success: [("200", .json(claim))], errors: ["400", "404", "503"]),
        Route(method: "get", path: "/v1/payer/plans", summary: "The plans of the requester's payer organization (its staff)", authenticated: true,
              success: [("200", .json(.object([("payer", .id), ("plans", .array(plan))])))], errors: ["503"]),
        Route(method: "get", path: "/v1/payer/claims",
              summary: "Claims adjudicated under the requester's payer's plans, newest first, with CARC meanings (its staff; each one logged)",
              authenticated: true,
              query: [query("after", false, "a claim id: go on after it (the previous page's next)", .id),
                      query("limit", false, "claims on the page (default 200)", .integer(minimum: 1, maximum: Int64(LedgerView.payerListMax)))],
              success: [("200", .json(.object([("payer", .id), ("claims", .array(queuedClaim)), ("next", .nullable(.id))])))], errors: ["400", "503"]),
        Route(method: "get", path: "/v1/payer/authorizations",
              summary: "Prior authorizations asked under the requester's payer's plans, oldest first (its staff; each one logged)", authenticated: true,
              query: [query("status", false, "pending (default) or all", .choice(["pending", "all"])),
                      query("after", false, "an authorization id: go on after it (the previous page's next)", .id),
                      query("limit", false, "authorizations on the page (default 200)", .integer(minimum: 1, maximum: Int64(LedgerView.payerListMax)))],
              success: [("200", .json(.object([("payer", .id), ("authorizations", .array(queuedAuthorization)), ("next", .nullable(.id))])))],
              errors: ["400", "503"]),
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
            var parameters: [[String: Any]] = route.query.map { parameter in
                ["name": parameter.name, "in": "query", "required": parameter.required, "description": parameter.description, "schema": parameter.schema.json]
            }
            for segment in route.path.split(separator: "/") where segment.hasPrefix("{") {
                let name = String(segment.dropFirst().dropLast())
                parameters.append(["name": name, "in": "path", "required": true, "schema": (route.pathSchemas[name] ?? .idParameter).json])
            }
            if !parameters.isEmpty { operation["parameters"] = parameters }
            if !route.body.isEmpty {
                operation["requestBody"] = ["required": true, "content": Dictionary(uniqueKeysWithValues: route.body.map { ($0.0, ["schema": $0.1.json]) })]
            }
            var responses: [String: Any] = [:]
            for (status, body) in route.success {
                let (media, schema): (String, Schema) = switch body {
                case .json(let schema): ("application/json", schema)
                case .media(let media, let schema): (media, schema)
                }
                responses[status] = ["description": "success", "content": [media: ["schema": schema.json]]]
            }
            var errors = route.errors
            if route.authenticated {
                errors += ["401", "403"]
                operation["security"] = [["bearer": []]]
            } else {
                operation["security"] = [[String: Any]]()
            }
            for status in errors where responses[status] == nil { responses[status] = ["$ref": "#/components/responses/Error"] }
            operation["responses"] = responses
            paths[route.path, default: [:]][route.method] = operation
        }
        return [
            "openapi": "3.0.3",
            "info": ["title": "CareLedger node API", "version": "1",
                     "description": "Every /v1 route except this document needs a bearer token from POST /auth/token."],
            "paths": paths,
            "components": [
                "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer", "bearerFormat": "JWT"]],
                "responses": ["Error": ["description": "error", "content": ["application/json": ["schema": errorSchema.json]]]],
            ],
        ]
    }
}
