public import Contracts
import Crypto
public import Foundation
public import LedgerCore
import Node

/// A comma-separated code list (items trimmed, empty items dropped).
public func codeList(_ text: String) -> [String] {
    text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}

/// SHA-256 of a file, read in 1 MiB chunks (documents and CRFs may be large).
public func sha256(file path: String) throws -> Hash256 {
    guard let handle = FileHandle(forReadingAtPath: path) else { throw ServiceError("cannot read \(path)") }
    defer { try? handle.close() }
    var hasher = SHA256()
    while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
    return Hash256(bytes: Array(hasher.finalize()))!
}

/// Exactly one of a file (hashed locally) and a 64-hex hash.
public func digest(file: String?, hash: String?, _ fileOption: String, _ hashOption: String) throws -> Hash256 {
    switch (file, hash) {
    case (let file?, nil): return try sha256(file: file)
    case (nil, let hash?): return try hexID(hash, hashOption)
    default: throw ServiceError("give exactly one of \(fileOption) FILE and \(hashOption) HEX")
    }
}

extension DataDirectory {
    /// Local key names by identity id, to label ids in output (keys that fail to load are skipped).
    public func localNames() -> [IdentityID: String] {
        var names: [IdentityID: String] = [:]
        for name in (try? keyNames()) ?? [] {
            if let keys = try? loadKey(name) { names[keys.derivedID] = name }
        }
        return names
    }

    /// The custodian organization's recruitment-match secret: 32 random bytes made on first use, kept 0600.
    public func matchSecret(custodian: IdentityID) throws -> [UInt8] {
        let folder = url.appendingPathComponent("match-secrets")
        let file = folder.appendingPathComponent("\(custodian.hex).secret")
        if let data = FileManager.default.contents(atPath: file.path) {
            guard data.count == 32 else { throw ServiceError("\(file.path) is damaged (not 32 bytes)") }
            return Array(data)
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let secret = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        guard FileManager.default.createFile(atPath: file.path, contents: Data(secret), attributes: [.posixPermissions: 0o600]) else {
            throw ServiceError("cannot create \(file.path)")
        }
        return secret
    }
}

/// The trial file of `trials register`, as a `TrialsContract.Register` call.
public enum TrialFile {
    /// Parses the file; a relative protocol path is resolved against `base`, sites against local key names.
    public static func register(_ data: Data, relativeTo base: URL, directory: DataDirectory) throws -> TrialsContract.Register {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { throw ServiceError("the trial file is not a JSON object") }
        guard let trial = object["trial"] as? String else { throw ServiceError("the trial file needs “trial” (its id)") }
        let protocolHash: Hash256
        switch (object["protocol"] as? String, object["protocolHash"] as? String) {
        case (let path?, nil): protocolHash = try sha256(file: path.hasPrefix("/") ? path : base.appendingPathComponent(path).path)
        case (nil, let hex?): protocolHash = try hexID(hex, "protocolHash")
        default: throw ServiceError("the trial file needs exactly one of “protocol” (a file) and “protocolHash” (64 hex)")
        }
        guard let form = object["consentFormVersion"] as? Int else { throw ServiceError("the trial file needs “consentFormVersion” (an integer)") }
        func codes(_ key: String) throws -> [String] {
            guard let list = object[key] as? [String], !list.isEmpty else { throw ServiceError("the trial file needs “\(key)”: a non-empty list of codes") }
            return list
        }
        guard let sites = object["sites"] as? [String], !sites.isEmpty else {
            throw ServiceError("the trial file needs “sites”: key names or ids of the site organizations")
        }
        return TrialsContract.Register(
            trial: trial, protocolHash: protocolHash, consentFormVersion: Int64(form), primaryEndpoints: try codes("primaryEndpoints"),
            secondaryEndpoints: try codes("secondaryEndpoints"), sites: try sites.map { try directory.identityID($0) })
    }
}

/// Readable and JSON forms of a trial, shared by `trials show`, `trials report` and the demo.
public struct TrialOutput {
    /// Local key names by id, used to label ids.
    public var names: [IdentityID: String] = [:]

    public init(names: [IdentityID: String] = [:]) { self.names = names }

    /// An id with its local key name when known.
    public func label(_ id: IdentityID) -> String { names[id].map { "\($0) (\(id.hex.prefix(12))…)" } ?? "\(id.hex.prefix(16))…" }

    /// The flag line `trials report` and `show` print for an outcome-switching report.
    public static func flagLine(_ flag: OutcomeSwitchFlag) -> String {
        var text = "FLAGGED: outcome switching against protocol v\(flag.protocolVersion) — added \(list(flag.added)); dropped \(list(flag.dropped))"
        if !flag.neverRegistered.isEmpty { text += "; never pre-registered: \(list(flag.neverRegistered))" }
        return text + " (pre-registered primary: \(list(flag.inForcePrimary)))"
    }

    /// Endpoint changes declared by an amendment, one line per kind.
    public static func changeLines(_ change: TrialEndpointChange) -> [String] {
        var out: [String] = []
        if !change.primaryAdded.isEmpty || !change.primaryDropped.isEmpty {
            out.append("primary endpoints declared: +\(list(change.primaryAdded)) −\(list(change.primaryDropped))")
        }
        if !change.secondaryAdded.isEmpty || !change.secondaryDropped.isEmpty {
            out.append("secondary endpoints declared: +\(list(change.secondaryAdded)) −\(list(change.secondaryDropped))")
        }
        return out
    }

    /// Codes joined with commas, or “none”.
    public static func list(_ items: [String]) -> String { items.isEmpty ? "none" : items.joined(separator: ", ") }

    /// The readable form of `trials show`: versions, counts, the latest `batches` data batches, results, criteria.
    public func lines(_ trial: Trial, patient: IdentityID?, batches: Int, state: any StateReader) -> [String] {
        var out = ["trial \(trial.id) — sponsor \(label(trial.sponsor)), registered at block \(trial.height)"]
        for version in trial.versions {
            var line = "  protocol v\(version.version) (block \(version.height)): \(version.protocolHash.hex.prefix(16))…, consent form v\(version.consentFormVersion), "
                + "primary \(Self.list(version.primaryEndpoints)), secondary \(Self.list(version.secondaryEndpoints)), sites \(version.sites.map(label).joined(separator: ", "))"
            if let reason = version.reason { line += ", reason “\(reason)”, after \(version.dataBatchesBefore) data batch(es)" }
            out.append(line)
            if let change = version.endpointChange { out += Self.changeLines(change).map { "      \($0)" } }
        }
        out.append("  participants enrolled: \(trial.participantCount)")
        out.append("  data batches: \(trial.dataBatchCount)")
        let first = trial.dataBatchCount > UInt64(max(batches, 0)) ? trial.dataBatchCount - UInt64(max(batches, 0)) + 1 : 1
        if trial.dataBatchCount > 0 && batches > 0 {
            for index in first...trial.dataBatchCount {
                guard let batch = TrialIndex.dataBatch(trial: trial.id, index: index, in: state) else { continue }
                out.append("    \(batch.index). participant \(label(batch.participant)), endpoint \(batch.endpoint), \(batch.crfHashes.count) CRF hash(es), site \(label(batch.site)), protocol v\(batch.protocolVersion), block \(batch.height)")
            }
        }
        let results = TrialIndex.results(trial: trial.id, in: state)
        out.append("  results reports: \(results.count)")
        for result in results {
            out.append("    \(result.index). primary \(Self.list(result.primaryEndpoints)), results \(result.resultsHash.hex.prefix(16))…, protocol v\(result.protocolVersion), block \(result.height)")
            if let flag = result.flag { out.append("       \(Self.flagLine(flag))") }
        }
        if let criteria = TrialIndex.criteria(trial: trial.id, in: state) {
            out.append("  recruitment criteria v\(criteria.version): \(criteria.criteria.joined(separator: "; ")) (document \(criteria.criteriaHash.hex.prefix(16))…)")
        } else {
            out.append("  recruitment: no criteria published")
        }
        if let patient {
            if let standing = TrialIndex.participant(trial: trial.id, patient: patient, in: state) {
                out.append("  patient \(label(patient)): \(standing.status.rawValue), consent form v\(standing.consentFormVersion), recruitment contact \(standing.recruitmentContact ? "yes" : "no")")
            } else {
                out.append("  patient \(label(patient)): no trial consent")
            }
        }
        return out
    }

    /// One results report (with its flag) as JSON.
    public static func json(_ result: TrialResult) -> [String: Any] {
        var row: [String: Any] = [
            "index": result.index, "primaryEndpoints": result.primaryEndpoints, "resultsHash": result.resultsHash.hex,
            "protocolVersion": result.protocolVersion, "primaryChangedByAmendment": result.primaryChangedByAmendment,
            "reporter": result.reporter.hex, "height": result.height, "flagged": result.isFlagged,
        ]
        if let flag = result.flag {
            row["flag"] = ["protocolVersion": flag.protocolVersion, "added": flag.added, "dropped": flag.dropped,
                           "neverRegistered": flag.neverRegistered, "version1Primary": flag.version1Primary,
                           "inForcePrimary": flag.inForcePrimary] as [String: Any]
        }
        return row
    }

    /// The JSON form of `trials show`.
    public func json(_ trial: Trial, patient: IdentityID?, batches: Int, state: any StateReader) -> [String: Any] {
        let versions: [[String: Any]] = trial.versions.map { version in
            var row: [String: Any] = [
                "version": version.version, "protocolHash": version.protocolHash.hex, "consentFormVersion": version.consentFormVersion,
                "primaryEndpoints": version.primaryEndpoints, "secondaryEndpoints": version.secondaryEndpoints,
                "sites": version.sites.map(\.hex), "dataBatchesBefore": version.dataBatchesBefore, "author": version.author.hex,
                "height": version.height,
            ]
            if let reason = version.reason { row["reason"] = reason }
            if let change = version.endpointChange {
                row["endpointChange"] = ["primaryAdded": change.primaryAdded, "primaryDropped": change.primaryDropped,
                                         "secondaryAdded": change.secondaryAdded, "secondaryDropped": change.secondaryDropped]
            }
            return row
        }
        var list: [[String: Any]] = []
        if trial.dataBatchCount > 0 && batches > 0 {
            let first = trial.dataBatchCount > UInt64(batches) ? trial.dataBatchCount - UInt64(batches) + 1 : 1
            for index in first...trial.dataBatchCount {
                guard let batch = TrialIndex.dataBatch(trial: trial.id, index: index, in: state) else { continue }
                list.append(["index": batch.index, "participant": batch.participant.hex, "endpoint": batch.endpoint,
                             "crfHashes": batch.crfHashes.map(\.hex), "site": batch.site.hex, "submitter": batch.submitter.hex,
                             "protocolVersion": batch.protocolVersion, "height": batch.height])
            }
        }
        let results = TrialIndex.results(trial: trial.id, in: state)
        var out: [String: Any] = [
            "trial": trial.id, "sponsor": trial.sponsor.hex, "registeredBy": trial.registeredBy.hex, "height": trial.height,
            "versions": versions, "participantCount": trial.participantCount, "dataBatchCount": trial.dataBatchCount,
            "dataBatches": list, "results": results.map(Self.json), "flagged": results.contains { $0.isFlagged },
        ]
        if let criteria = TrialIndex.criteria(trial: trial.id, in: state) {
            out["criteria"] = ["version": criteria.version, "criteria": criteria.criteria, "criteriaHash": criteria.criteriaHash.hex,
                               "height": criteria.height] as [String: Any]
        }
        if let patient {
            if let standing = TrialIndex.participant(trial: trial.id, patient: patient, in: state) {
                out["participant"] = ["patient": patient.hex, "status": standing.status.rawValue,
                                      "consentFormVersion": standing.consentFormVersion, "recruitmentContact": standing.recruitmentContact]
            } else {
                out["participant"] = ["patient": patient.hex, "status": "none"]
            }
        }
        return out
    }
}
