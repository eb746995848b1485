import Contracts
import FHIR
import Foundation
import HTTPTypes
import Hummingbird
import LedgerCore
import NIOCore
import Node
import Services

/// Turns every failure under /fhir into an OperationOutcome with the right status, and checks
/// the requested format (JSON only).
struct FHIROutcomeMiddleware: RouterMiddleware {
    typealias Context = LedgerRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        func outcome(_ error: FHIRError, headers: HTTPFields = [:]) -> Response {
            FHIRRoutes.response(error.outcome, status: HTTPResponse.Status(code: error.status), headers: headers, pretty: FHIRRoutes.pretty(request))
        }
        let format = request.query("_format") ?? request.headers[.accept] ?? ""
        if format.contains("xml"), !format.contains("json") {
            return outcome(FHIRError(406, "not-supported", "this server speaks FHIR JSON only (application/fhir+json)"))
        }
        do {
            return try await next(request, context)
        } catch let error as FHIRError {
            return outcome(error)
        } catch let error as APIError {
            return outcome(FHIRError(Int(error.status.code), error.status.code == 401 ? "login" : "security", error.message), headers: error.headers)
        } catch is NIOTooManyBytesError {
            return outcome(FHIRError(413, "too-costly", "the request body is larger than this interaction accepts"))
        } catch let error as HTTPError {
            let code = error.status.code == 413 ? "too-costly" : error.status.code == 404 ? "not-found" : "invalid"
            return outcome(FHIRError(Int(error.status.code), code, error.body ?? error.status.reasonPhrase))
        }
    }
}

/// FHIR R4 at /fhir: metadata, create (and conditional create), read, vread, update (If-Match),
/// delete, instance history and search (GET and POST _search) over the records service.
enum FHIRRoutes {
    static let mediaType = "application/fhir+json; charset=utf-8"

    static func response(_ object: [String: Any], status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], pretty: Bool = false) -> Response {
        var fields = headers
        fields[.contentType] = mediaType
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: FHIRJSON.data(object, pretty: pretty))))
    }

    /// The FHIR base URL: the node's configured public URL, never the request's `Host` header.
    static func fhirBase(_ services: ServerServices) -> String { services.tokens.publicURL + "/fhir" }

    static func add(to router: Router<LedgerRequestContext>, _ services: ServerServices, fhir: FHIRService) {
        router.group("fhir").add(middleware: FHIROutcomeMiddleware()).get("metadata") { request, _ in
            let statement = FHIR.CapabilityStatement.make(base: fhirBase(services), tokenURL: services.tokens.tokenURL,
                                                          date: FHIRDateTime.instant(ms: Int64(Date().timeIntervalSince1970 * 1_000)))
            return response(statement, pretty: request.query("_pretty") == "true")
        }
        let group = router.group("fhir").add(middleware: FHIROutcomeMiddleware()).add(middleware: AuthMiddleware(services: services))

        group.post("") { request, context in
            let contentType = request.headers[.contentType]?.lowercased() ?? ""
            guard contentType.hasPrefix("application/fhir+json") || contentType.hasPrefix("application/json") else {
                throw FHIRError(415, "not-supported", "send application/fhir+json")
            }
            let buffer = try await request.body.collect(upTo: FHIRJSON.bundleBytesMax)
            let bundle = try FHIRJSON.object(Array(buffer: buffer), limit: FHIRJSON.bundleBytesMax)
            guard bundle["resourceType"] as? String == "Bundle" else { throw FHIRError.invalid("POST to the base takes a Bundle", at: "resourceType") }
            let requester = try context.requester()
            switch bundle["type"] as? String {
            case "transaction":
                return response(try await fhir.transaction(bundle, requester: requester, base: fhirBase(services)), pretty: pretty(request))
            case "batch":
                return response(try await batch(bundle, requester: requester, request: request, fhir: fhir, base: fhirBase(services)), pretty: pretty(request))
            default:
                throw FHIRError.invalid("Bundle.type must be transaction or batch", at: "Bundle.type")
            }
        }
        group.get("$export") { request, context in
            try await startExport(request, context, patientLevel: false, fhir: fhir, base: fhirBase(services))
        }
        group.get("$export-status/:job") { request, context in
            let job = try await fhir.exports.job(context.parameters.get("job") ?? "", owner: try context.requester().id)
            guard let finished = job.finished else {
                return Response(status: .accepted, headers: [HTTPField.Name("X-Progress")!: job.progress, .retryAfter: "1"])
            }
            if let error = job.error { throw FHIRError(500, "exception", "export failed: \(error)") }
                let manifest: [String: Any] = [
                "transactionTime": FHIRDateTime.instant(ms: Int64(job.started.timeIntervalSince1970 * 1_000)),
                "request": job.request, "requiresAccessToken": true, "error": [[String: Any]](),
                "output": job.outputs.map { ["type": $0.type, "url": "\(fhirBase(services))/$export-file/\(context.parameters.get("job") ?? "")/\($0.type).ndjson",
                                             "count": $0.count] },
                "extension": ["https://careledger.org/fhir/export-completed": FHIRDateTime.instant(ms: Int64(finished.timeIntervalSince1970 * 1_000))],
            ]
            return JSON.response(manifest)
        }
        group.delete("$export-status/:job") { _, context in
            try await fhir.exports.delete(context.parameters.get("job") ?? "", owner: try context.requester().id)
            return Response(status: .accepted)
        }
        group.get("$export-file/:job/:file") { _, context in
            let data = try await fhir.exportFile(job: context.parameters.get("job") ?? "", file: context.parameters.get("file") ?? "",
                                                 requester: try context.requester())
            return Response(status: .ok, headers: [.contentType: "application/fhir+ndjson"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        group.get(":type") { request, context in
            let type = try supportedType(context)
            let pairs = queryPairs(request)
            if let view = try await ledgerView(type: type, pairs: pairs, request: request, context: context, fhir: fhir, base: fhirBase(services)) { return view }
            let query = try SearchQuery(type: type, pairs: pairs, strict: strictHandling(request))
            return try await searchResponse(query, request: request, context: context, fhir: fhir, base: fhirBase(services))
        }
        // Type-level operations. (A constant "Claim/$submit" route would shadow POST /fhir/Claim in the router's trie.)
        group.post(":type/:id") { request, context in
            if context.parameters.get("id") == "$validate" {
                _ = try context.requester()
                return response(try FHIRService.validate(try await body(request), type: try supportedType(context), id: nil), pretty: pretty(request))
            }
            guard context.parameters.get("type") == "Claim", context.parameters.get("id") == "$submit" else {
                throw FHIRError(405, "not-supported", "POST to an instance is not a FHIR interaction; the type-level operations are Claim/$submit and $validate")
            }
            let claimResponse = try await fhir.submitClaim(try await body(request), requester: try context.requester())
            return response(claimResponse, headers: [.location: "\(fhirBase(services))/ClaimResponse/\(claimResponse["id"] as? String ?? "")"],
                            pretty: pretty(request))
        }
        group.post(":type/:id/:operation") { request, context in
            guard context.parameters.get("operation") == "$validate", let id = context.parameters.get("id"), FHIRJSON.isValidID(id) else {
                throw FHIRError(405, "not-supported", "the only instance-level operation is $validate")
            }
            _ = try context.requester()
            return response(try FHIRService.validate(try await body(request), type: try supportedType(context), id: id), pretty: pretty(request))
        }
        group.post(":type/_search") { request, context in
            let type = try supportedType(context)
            guard request.headers[.contentType]?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true else {
                throw FHIRError(415, "not-supported", "POST _search takes application/x-www-form-urlencoded parameters")
            }
            let body = try await request.body.collect(upTo: 64 << 10)
            let pairs = queryPairs(request) + SearchQuery.formPairs(String(buffer: body))
            let query = try SearchQuery(type: type, pairs: pairs, strict: strictHandling(request))
            return try await searchResponse(query, request: request, context: context, fhir: fhir, base: fhirBase(services))
        }
        group.post(":type") { request, context in
            let type = try supportedType(context)
            let resource = try await body(request)
            let requester = try context.requester()
            if let condition = request.headers[HTTPField.Name("If-None-Exist")!] {
                let query = try SearchQuery(type: type, pairs: SearchQuery.formPairs(condition), strict: true)
                let existing = try await fhir.search(query, requester: requester, purpose: try purpose(request))
                if existing.total == 1, let match = existing.matches.first {
                    return response(match.resource, headers: versionHeaders(match, base: fhirBase(services)), pretty: pretty(request))
                }
                if existing.total > 1 { throw FHIRError.preconditionFailed("If-None-Exist matches \(existing.total) resources") }
            }
            if type == "Consent", fhir.isPatientSide(resource, requester: requester) {
                let consent = try await fhir.grantConsent(resource, requester: requester)
                return response(consent, status: .created, headers: [.location: "\(fhirBase(services))/Consent/\(consent["id"] as? String ?? "")"],
                                pretty: pretty(request))
            }
            let created = try await fhir.create(resource, type: type, requester: requester)
            return written(created, created: true, request: request, base: fhirBase(services))
        }
        group.get(":type/:id") { request, context in
            if context.parameters.get("type") == "Patient", context.parameters.get("id") == "$export" {
                return try await startExport(request, context, patientLevel: true, fhir: fhir, base: fhirBase(services))
            }
            let (type, id) = try typeAndID(context)
            if type == "AuditEvent", id.hasPrefix("audit-") {
                return response(try fhir.auditEvent(id: id, requester: try context.requester()), pretty: pretty(request))
            }
            if type == "Consent", id.hasPrefix(FHIRService.consentPrefix) {
                return response(try fhir.ledgerConsent(id: id, requester: try context.requester()).resource, pretty: pretty(request))
            }
            if type == "ClaimResponse", id.hasPrefix(ClaimMapping.responsePrefix) {
                return response(try await fhir.ledgerClaimResponse(id: id, requester: try context.requester()), pretty: pretty(request))
            }
            if ["ResearchStudy", "MedicationRequest", "MedicationDispense", "Encounter"].contains(type), id.hasPrefix(LedgerResources.prefix) {
                return response(try await fhir.ledgerResource(type: type, id: id, requester: try context.requester()), pretty: pretty(request))
            }
            // The stored JSON is the resource as served: no parse and re-serialize unless _pretty.
            let found = try await fhir.read(type: type, id: id, requester: try context.requester(), purpose: try purpose(request),
                                            parse: pretty(request))
            if let unchanged = notModified(found, request: request, base: fhirBase(services)) { return unchanged }
            guard let content = found.content, !pretty(request) else {
                return response(found.resource, headers: versionHeaders(found, base: fhirBase(services)), pretty: pretty(request))
            }
            var headers = versionHeaders(found, base: fhirBase(services))
            headers[.contentType] = mediaType
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: content)))
        }
        group.put(":type/:id") { request, context in
            let (type, id) = try typeAndID(context)
            let resource = try await body(request)
            let (ifMatch, ifNoneMatch) = try preconditions(request)
            let (version, created) = try await fhir.update(resource, type: type, id: id, ifMatch: ifMatch, ifNoneMatch: ifNoneMatch,
                                                           requester: try context.requester())
            return written(version, created: created, request: request, base: fhirBase(services))
        }
        // Conditional update and delete: the query string is the condition.
        group.put(":type") { request, context in
            let type = try supportedType(context)
            let resource = try await body(request)
            let (ifMatch, ifNoneMatch) = try preconditions(request)
            let (version, created) = try await fhir.conditionalUpdate(resource, type: type, condition: queryPairs(request), ifMatch: ifMatch,
                                                                      ifNoneMatch: ifNoneMatch, requester: try context.requester(),
                                                                      purpose: try purpose(request))
            return written(version, created: created, request: request, base: fhirBase(services))
        }
        group.delete(":type") { request, context in
            let type = try supportedType(context)
            guard let id = try await fhir.conditionalDelete(type: type, condition: queryPairs(request), requester: try context.requester(),
                                                            purpose: try purpose(request)) else {
                return response(OperationOutcome.information("no \(type) you may read matches the condition; nothing was deleted"), pretty: pretty(request))
            }
            return response(OperationOutcome.information("\(type)/\(id) deleted: erased on-chain and its ciphertext destroyed"), pretty: pretty(request))
        }
        group.delete(":type/:id") { request, context in
            let (type, id) = try typeAndID(context)
            if type == "Consent", id.hasPrefix(FHIRService.consentPrefix) {
                try await fhir.revokeConsent(id: id, requester: try context.requester())
                return response(OperationOutcome.information("Consent/\(id) revoked on-chain; decisions stop using it from the next block"),
                                pretty: pretty(request))
            }
            try await fhir.delete(type: type, id: id, requester: try context.requester())
            return response(OperationOutcome.information("\(type)/\(id) deleted: erased on-chain and its ciphertext destroyed"), pretty: pretty(request))
        }
        group.get(":type/:id/_history") { request, context in
            let (type, id) = try typeAndID(context)
            let query = try HistoryQuery(pairs: queryPairs(request))
            let (total, versions) = try await fhir.history(type: type, id: id, query: query, requester: try context.requester(), purpose: try purpose(request))
            return response(historyBundle(versions, total: total, query: query, request: request, selfURL: "\(fhirBase(services))/\(type)/\(id)/_history",
                                          base: fhirBase(services)), pretty: pretty(request))
        }
        group.get(":type/_history") { request, context in
            let type = try supportedType(context)
            let query = try HistoryQuery(pairs: queryPairs(request))
            let (total, versions) = try await fhir.typeHistory(type: type, query: query, requester: try context.requester(), purpose: try purpose(request))
            return response(historyBundle(versions, total: total, query: query, request: request, selfURL: "\(fhirBase(services))/\(type)/_history",
                                          base: fhirBase(services)), pretty: pretty(request))
        }
        group.get(":type/:id/:operation") { request, context in
            let (type, id) = try typeAndID(context)
            guard type == "Patient", context.parameters.get("operation") == "$everything" else {
                throw FHIRError(404, "not-supported", "\(type)/\(id)/\(context.parameters.get("operation")?.prefix(40) ?? "") is not an operation served here")
            }
            let all = try await fhir.everything(patientID: id, requester: try context.requester(), purpose: try purpose(request))
                let entries: [[String: Any]] = all.map { ["fullUrl": "\(fhirBase(services))/\($0.type)/\($0.id)", "resource": $0.resource, "search": ["mode": "match"]] }
            var bundle: [String: Any] = ["resourceType": "Bundle", "type": "searchset", "total": entries.count,
                                         "link": [["relation": "self", "url": "\(fhirBase(services))/Patient/\(id)/$everything"]]]
            if !entries.isEmpty { bundle["entry"] = entries }
            return response(bundle, pretty: pretty(request))
        }
        group.get(":type/:id/_history/:vid") { request, context in
            let (type, id) = try typeAndID(context)
            guard let version = context.parameters.get("vid").flatMap(UInt64.init), version >= 1 else {
                throw FHIRError.invalid("versionId must be a positive integer")
            }
            let found = try await fhir.read(type: type, id: id, version: version, requester: try context.requester(), purpose: try purpose(request))
            if let unchanged = notModified(found, request: request, base: fhirBase(services)) { return unchanged }
            return response(found.resource, headers: versionHeaders(found, base: fhirBase(services)), pretty: pretty(request))
        }
    }

    /// A batch: each entry on its own, answered in a batch-response (entries may fail alone).
    static func batch(_ bundle: [String: Any], requester: Identity, request: Request, fhir: FHIRService, base: String) async throws -> [String: Any] {
        let entries = (bundle["entry"] as? [Any] ?? []).map { $0 as? [String: Any] ?? [:] }
        guard entries.count <= FHIRService.bundleEntriesMax else { throw FHIRError(413, "too-costly", "too many entries") }
        let purpose = try purpose(request)
        var out: [[String: Any]] = []
        for entry in entries {
            do {
                out.append(try await batchEntry(entry, requester: requester, purpose: purpose, base: base, fhir: fhir))
            } catch let error as FHIRError {
                out.append(["response": ["status": "\(error.status)", "outcome": error.outcome]])
            }
        }
        return ["resourceType": "Bundle", "type": "batch-response", "entry": out]
    }

    static func batchEntry(_ entry: [String: Any], requester: Identity, purpose: Purpose, base: String, fhir: FHIRService) async throws -> [String: Any] {
        guard let request = entry["request"] as? [String: Any], let method = request["method"] as? String, let url = request["url"] as? String else {
            throw FHIRError.invalid("entry needs request.method and request.url")
        }
        let path = url.split(separator: "?", maxSplits: 1).map(String.init)
        let parts = path[0].split(separator: "/").map(String.init)
        guard let type = parts.first, FHIRResourceTypes.all.contains(type) else { throw FHIRError.notFound("no resource type in \(url.prefix(80))") }
        func done(_ version: FHIRVersion, _ status: String) -> [String: Any] {
            ["fullUrl": "\(base)/\(version.type)/\(version.id)", "resource": version.resource,
             "response": ["status": status, "location": "\(version.type)/\(version.id)/_history/\(version.version)", "etag": "W/\"\(version.version)\""]]
        }
        switch (method, parts.count) {
        case ("GET", 1):
            let query = try SearchQuery(type: type, pairs: path.count > 1 ? SearchQuery.formPairs(path[1]) : [], strict: false)
            let result = try await fhir.search(query, requester: requester, purpose: purpose)
            let matches: [[String: Any]] = result.matches.map { ["fullUrl": "\(base)/\($0.type)/\($0.id)", "resource": $0.resource] }
            return ["resource": ["resourceType": "Bundle", "type": "searchset", "total": result.total, "entry": matches], "response": ["status": "200 OK"]]
        case ("GET", 2):
            return done(try await fhir.read(type: type, id: parts[1], requester: requester, purpose: purpose), "200 OK")
        case ("POST", 1):
            guard let resource = entry["resource"] as? [String: Any] else { throw FHIRError.invalid("POST needs a resource") }
            return done(try await fhir.create(resource, type: type, requester: requester), "201 Created")
        case ("PUT", 2):
            guard let resource = entry["resource"] as? [String: Any] else { throw FHIRError.invalid("PUT needs a resource") }
            let (version, created) = try await fhir.update(resource, type: type, id: parts[1], ifMatch: nil, requester: requester)
            return done(version, created ? "201 Created" : "200 OK")
        case ("DELETE", 2):
            try await fhir.delete(type: type, id: parts[1], requester: requester)
            return ["response": ["status": "204 No Content"]]
        default:
            throw FHIRError.notSupported("\(method) \(url.prefix(80)) is not supported in a batch")
        }
    }

    /// The ledger's own objects: `AuditEvent?patient=` (the access log, BALP) and
    /// `Provenance?target=Type/id` (from the chain); nil for ordinary searches.
    static func ledgerView(type: String, pairs: [(String, String)], request: Request, context: LedgerRequestContext,
                           fhir: FHIRService, base: String) async throws -> Response? {
        if type == "AuditEvent", let patient = pairs.first(where: { $0.0 == "patient" })?.1 {
            let id = FHIRJSON.parseReference(patient)?.id ?? patient
            let count = Int(request.query("_count") ?? "100") ?? -1
            let offset = Int(request.query("_offset") ?? "0") ?? -1
            guard (1...SearchQuery.countMax).contains(count), offset >= 0 else { throw FHIRError.invalid("_count must be 1…1000 and _offset ≥ 0") }
            let (total, events) = try fhir.auditEvents(patientID: id, requester: try context.requester(), offset: offset, count: count)
            var links: [[String: Any]] = [["relation": "self", "url": "\(base)/AuditEvent?patient=\(id)&_count=\(count)&_offset=\(offset)"]]
            if offset + count < total { links.append(["relation": "next", "url": "\(base)/AuditEvent?patient=\(id)&_count=\(count)&_offset=\(offset + count)"]) }
            var bundle: [String: Any] = ["resourceType": "Bundle", "type": "searchset", "total": total, "link": links]
            if !events.isEmpty {
                bundle["entry"] = events.map { ["fullUrl": "\(base)/AuditEvent/\($0["id"] as? String ?? "")", "resource": $0, "search": ["mode": "match"]] }
            }
            return response(bundle, pretty: pretty(request))
        }
        if type == "Provenance", let target = pairs.first(where: { $0.0 == "target" })?.1 {
            guard let parsed = FHIRJSON.parseReference(target) else { throw FHIRError.invalid("target must be Type/id") }
            let provenances = try await fhir.provenance(type: parsed.type, id: parsed.id, requester: try context.requester(), purpose: try purpose(request))
            var bundle: [String: Any] = ["resourceType": "Bundle", "type": "searchset", "total": provenances.count,
                                         "link": [["relation": "self", "url": "\(base)/Provenance?target=\(parsed.type)/\(parsed.id)"]]]
            if !provenances.isEmpty {
                bundle["entry"] = provenances.map { ["fullUrl": "\(base)/Provenance/\($0["id"] as? String ?? "")", "resource": $0, "search": ["mode": "match"]] }
            }
            return response(bundle, pretty: pretty(request))
        }
        return nil
    }

    /// Bulk Data kick-off: `Prefer: respond-async` required; `_type` limits the types; 202 with
    /// the status URL in Content-Location.
    static func startExport(_ request: Request, _ context: LedgerRequestContext, patientLevel: Bool, fhir: FHIRService, base: String) async throws -> Response {
        guard request.headers[HTTPField.Name("Prefer")!]?.contains("respond-async") == true else {
            throw FHIRError.invalid("$export is asynchronous: send Prefer: respond-async")
        }
        if let format = request.query("_outputFormat"), !["application/fhir+ndjson", "application/ndjson", "ndjson"].contains(format) {
            throw FHIRError.notSupported("_outputFormat \(format.prefix(60)) is not supported (application/fhir+ndjson)")
        }
        var types: [String] = []
        if let list = request.query("_type") {
            types = list.split(separator: ",").map(String.init)
            for type in types where !FHIR.CapabilityStatement.supportedTypes.contains(type) {
                throw FHIRError.invalid("_type \(type.prefix(64)) is not a type served here")
            }
        }
        let requester = try context.requester()
        let purpose = try purpose(request)
        let requestURL = "\(base)/\(patientLevel ? "Patient/" : "")$export" + (request.uri.query.map { "?\($0)" } ?? "")
        let jobs = fhir.exports
        let wanted = types
        let id = try await jobs.start(owner: requester.id, request: requestURL, purpose: purpose) { id in
            await fhir.runExport(types: wanted, patientLevel: patientLevel, requester: requester, purpose: purpose, jobs: jobs, id: id)
        }
        return Response(status: .accepted, headers: [.contentLocation: "\(base)/$export-status/\(id)"])
    }

    /// A history Bundle, newest first: one page of `total` versions, with next and previous links.
    static func historyBundle(_ versions: [FHIRVersion], total: Int, query: HistoryQuery, request: Request, selfURL: String,
                              base: String) -> [String: Any] {
        let entries: [[String: Any]] = versions.map { version in
            ["fullUrl": "\(base)/\(version.type)/\(version.id)", "resource": version.resource,
             "request": ["method": version.version == 1 ? "POST" : "PUT", "url": version.version == 1 ? version.type : "\(version.type)/\(version.id)"],
             "response": ["status": version.version == 1 ? "201" : "200", "etag": "W/\"\(version.version)\"",
                          "lastModified": FHIRDateTime.instant(ms: version.lastUpdatedMs)]]
        }
        let kept = queryPairs(request).filter { $0.0 != "_offset" }
        func link(_ relation: String, _ offset: Int) -> [String: Any] { ["relation": relation, "url": selfURL + "?" + encoded(kept + [("_offset", String(offset))])] }
        var links = [link("self", query.offset)]
        if query.offset + query.count < total { links.append(link("next", query.offset + query.count)) }
        if query.offset > 0 { links.append(link("previous", max(0, query.offset - query.count))) }
        var bundle: [String: Any] = ["resourceType": "Bundle", "type": "history", "total": total, "link": links]
        if !entries.isEmpty { bundle["entry"] = entries }
        return bundle
    }

    /// Query pairs, percent-encoded, for a link.
    static func encoded(_ pairs: [(String, String)]) -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~:/"))
        return pairs.map { "\($0.0.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0.1)" }
            .joined(separator: "&")
    }

    /// `If-Match: W/"n"` and `If-None-Match: *` of a write (R4 §3.1.0.4.1, RFC 9110 §13.1.2).
    static func preconditions(_ request: Request) throws(FHIRError) -> (ifMatch: UInt64?, ifNoneMatch: Bool) {
        var ifMatch: UInt64?
        if let header = request.headers[.ifMatch] {
            guard let version = parseETag(header) else { throw FHIRError.invalid("If-Match must be W/\"<versionId>\"") }
            ifMatch = version
        }
        guard let none = request.headers[.ifNoneMatch]?.trimmingCharacters(in: .whitespaces) else { return (ifMatch, false) }
        guard none == "*" else { throw FHIRError.invalid("on a write, If-None-Match takes * (write only if the resource does not exist)") }
        return (ifMatch, true)
    }

    /// 304 Not Modified when the read's `If-None-Match` names the version served (R4 conditional read).
    static func notModified(_ version: FHIRVersion, request: Request, base: String) -> Response? {
        guard let header = request.headers[.ifNoneMatch] else { return nil }
        let tags = header.split(separator: ",").map { String($0) }
        guard tags.contains(where: { $0.trimmingCharacters(in: .whitespaces) == "*" || parseETag($0) == version.version }) else { return nil }
        return Response(status: .notModified, headers: versionHeaders(version, base: base))
    }

    /// `Prefer: return=minimal|representation|OperationOutcome` (R4 §3.1.0.1.8; representation by default).
    enum ReturnPreference {
        case minimal, representation, operationOutcome

        init(_ request: Request) {
            let prefer = request.headers[HTTPField.Name("Prefer")!] ?? ""
            self = prefer.contains("return=minimal") ? .minimal : prefer.contains("return=OperationOutcome") ? .operationOutcome : .representation
        }
    }

    /// The answer to a create or update, as the client prefers it.
    static func written(_ version: FHIRVersion, created: Bool, request: Request, base: String) -> Response {
        var headers = versionHeaders(version, base: base)
        if created { headers[.location] = "\(base)/\(version.type)/\(version.id)/_history/\(version.version)" }
        let status: HTTPResponse.Status = created ? .created : .ok
        switch ReturnPreference(request) {
        case .minimal: return Response(status: status, headers: headers)
        case .operationOutcome:
            let what = "\(version.type)/\(version.id) \(created ? "created" : "updated") at version \(version.version)"
            return response(OperationOutcome.information(what), status: status, headers: headers, pretty: pretty(request))
        case .representation: return response(version.resource, status: status, headers: headers, pretty: pretty(request))
        }
    }

    static func supportedType(_ context: LedgerRequestContext) throws(FHIRError) -> String {
        guard let type = context.parameters.get("type") else { throw .notFound("no resource type") }
        guard FHIRResourceTypes.all.contains(type) else { throw .notFound("“\(type.prefix(64))” is not a FHIR R4 resource type") }
        guard FHIR.CapabilityStatement.supportedTypes.contains(type) else {
            throw FHIRError(404, "not-supported", "\(type) is not served here (see /fhir/metadata)")
        }
        return type
    }

    static func typeAndID(_ context: LedgerRequestContext) throws(FHIRError) -> (String, String) {
        let type = try supportedType(context)
        guard let id = context.parameters.get("id"), FHIRJSON.isValidID(id) else { throw .invalid("id must be 1–64 of A–Z a–z 0–9 - . (not . or ..)") }
        return (type, id)
    }

    static func body(_ request: Request) async throws -> [String: Any] {
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        guard contentType.hasPrefix("application/fhir+json") || contentType.hasPrefix("application/json") else {
            throw FHIRError(415, "not-supported", "send application/fhir+json (got “\(contentType.prefix(60))”)")
        }
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: FHIRJSON.resourceBytesMax) } catch is NIOTooManyBytesError {
            throw FHIRError(413, "too-costly", "a resource is at most \(FHIRJSON.resourceBytesMax) bytes")
        }
        return try FHIRJSON.object(Array(buffer: buffer))
    }

    static func purpose(_ request: Request) throws(FHIRError) -> Purpose {
        guard let text = request.headers[HTTPField.Name("X-Purpose-Of-Use")!] else { return .treatment }
        guard let purpose = Purpose(rawValue: text) else {
            throw .invalid("X-Purpose-Of-Use must be one of \(Purpose.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return purpose
    }

    static func pretty(_ request: Request) -> Bool { request.query("_pretty") == "true" }

    static func strictHandling(_ request: Request) -> Bool { request.headers[HTTPField.Name("Prefer")!]?.contains("handling=strict") == true }

    static func versionHeaders(_ version: FHIRVersion, base: String) -> HTTPFields {
        [.eTag: "W/\"\(version.version)\"", .lastModified: httpDate(version.lastUpdatedMs)]
    }

    static func parseETag(_ text: String) -> UInt64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let inner = trimmed.hasPrefix("W/") ? String(trimmed.dropFirst(2)) : trimmed
        guard inner.hasPrefix("\""), inner.hasSuffix("\""), inner.count >= 3 else { return UInt64(inner) }
        return UInt64(inner.dropFirst().dropLast())
    }

    static func httpDate(_ ms: Int64) -> String { FHIRDateTime.httpDate(ms: ms) }

    static func queryPairs(_ request: Request) -> [(String, String)] {
        request.uri.queryParameters.map { (String($0.key), String($0.value)) }
    }

    /// What a consortium node's search results say of the records other organizations hold.
    static let notFederated = "this search covers only the records this node's organization holds; records other organizations hold "
        + "are not searched (no federated search): read one by id through GET /v1/records/{id}/release at this node"

    static func searchResponse(_ query: SearchQuery, request: Request, context: LedgerRequestContext, fhir: FHIRService, base: String) async throws -> Response {
        let requester = try context.requester()
        let result = try await fhir.search(query, requester: requester, purpose: try purpose(request))
        // Ledger objects join a search by patient: the patient's (or delegate's) own consents, and
        // the adjudicated claims the requester is a party to.
        var ledgerObjects: [[String: Any]] = []
        if let patient = queryPairs(request).first(where: { $0.0 == "patient" })?.1 {
            let patientID = FHIRJSON.parseReference(patient)?.id ?? patient
            if query.type == "Consent" { ledgerObjects = try fhir.ledgerConsents(patientID: patientID, requester: requester) }
            if query.type == "ClaimResponse" { ledgerObjects = try await fhir.ledgerClaimResponses(patientID: patientID, requester: requester) }
        }
        var bundle: [String: Any] = ["resourceType": "Bundle", "type": "searchset", "total": result.total + ledgerObjects.count]
        let kept = queryPairs(request).filter { $0.0 != "_offset" }
        func link(_ offset: Int) -> String { "\(base)/\(query.type)?\(encoded(kept + [("_offset", String(offset))]))" }
        var links: [[String: Any]] = [["relation": "self", "url": link(query.offset)]]
        if !query.summaryCount, query.count > 0, query.offset + query.count < result.total {
            links.append(["relation": "next", "url": link(query.offset + query.count)])
        }
        if !query.summaryCount, query.offset > 0 { links.append(["relation": "previous", "url": link(max(0, query.offset - query.count))]) }
        bundle["link"] = links
        // `_elements` / `_summary=true|data` shape the matches after decryption (included resources stay whole).
        var entries: [[String: Any]] = result.matches.map {
            ["fullUrl": "\(base)/\($0.type)/\($0.id)", "resource": query.shape($0.resource), "search": ["mode": "match"]]
        }
        entries += ledgerObjects.map { ["fullUrl": "\(base)/\(query.type)/\($0["id"] as? String ?? "")", "resource": query.shape($0), "search": ["mode": "match"]] }
        entries += result.included.map { ["fullUrl": "\(base)/\($0.type)/\($0.id)", "resource": $0.resource, "search": ["mode": "include"]] }
        if !query.ignored.isEmpty {
            entries.append(["resource": OperationOutcome.make(severity: "warning", code: "not-supported",
                                                              diagnostics: "ignored search parameters: \(query.ignored.joined(separator: ", "))"),
                            "search": ["mode": "outcome"]])
        }
        // A consortium node searches only the records its own organization holds: it says so.
        if fhir.access.node.configuration.organizations != nil {
            entries.append(["resource": OperationOutcome.make(severity: "information", code: "informational", diagnostics: Self.notFederated),
                            "search": ["mode": "outcome"]])
        }
        if !entries.isEmpty { bundle["entry"] = entries }
        if query.total == .none { bundle["total"] = nil }
        return response(bundle, pretty: pretty(request))
    }
}
