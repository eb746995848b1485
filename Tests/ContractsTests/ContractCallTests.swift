import Contracts
import Foundation
import LedgerCore
import Testing

/// Typed calls build exactly the argument maps that callers wrote by hand before (the wire format
/// is unchanged), decode back to themselves, and refuse malformed arguments with the old codes.
@Suite("Typed contract calls")
struct ContractCallTests {
    static let record = Hash256.sha256([1]), patient = Harness.patientID, hash = Hash256.sha256([2])
    static let key = Harness.doctor.signingPublicKey, agreement = Harness.doctor.agreementPublicKey

    /// Each call and the map the old hand-written builders (Sources/careledger, the old test helpers) sent for it.
    static let wire: [(any ContractMethod, String, String, CanonicalMap)] = [
        (RecordsContract.Register(record: record, patient: patient, resourceType: "Observation", category: .mentalHealth,
                                  ciphertextHash: hash, version: 2, agent: hash),
         "records", "register",
         ["record": .bytes(record.bytes), "patient": .bytes(patient.bytes), "resourceType": .string("Observation"),
          "category": .string("mental-health"), "ciphertextHash": .bytes(hash.bytes), "version": .int(2), "agent": .bytes(hash.bytes)]),
        (RecordsContract.RegisterMany(entries: [RecordsContract.Register(record: record, patient: nil, resourceType: "Organization",
                                                                         category: .general, ciphertextHash: hash, version: 1)]),
         "records", "registerMany",
         ["entries": .list([.map(["record": .bytes(record.bytes), "resourceType": .string("Organization"), "category": .string("general"),
                                  "ciphertextHash": .bytes(hash.bytes), "version": .int(1)])])]),
        (RecordsContract.Erase(record: record), "records", "erase", ["record": .bytes(record.bytes)]),
        (AnchorContract.Put(digest: hash, kind: "doc"), "anchor", "put", ["digest": .bytes(hash.bytes), "kind": .string("doc")]),
        (AuditContract.AnchorLog(size: 7, root: hash), "audit", "anchor", ["size": .int(7), "root": .bytes(hash.bytes)]),
        (MembershipContract.Found(label: "hospital", organizationType: .hospital, agreementKey: agreement, orderers: [key]),
         "membership", "found",
         ["label": .string("hospital"), "organizationType": .string("hospital"), "agreementKey": .bytes(agreement),
          "orderers": .list([.bytes(key.rawValue)])]),
        (MembershipContract.Enroll(kind: .member, label: "m", roles: [.clinician, .emergencyClinician], signingKey: key, agreementKey: agreement),
         "membership", "enroll",
         ["kind": .string("member"), "label": .string("m"), "roles": .list([.string("clinician"), .string("emergency-clinician")]),
          "signingKey": .bytes(key.rawValue), "agreementKey": .bytes(agreement)]),
        (MembershipContract.Revoke(member: patient), "membership", "revoke", ["member": .bytes(patient.bytes)]),
        (ConsentContract.Grant(patient: patient, grantee: .member(hash), categories: [.hiv], records: [record], purposes: [.treatment],
                               actions: [.read, .contribute], endMs: 5_000),
         "consent", "grant",
         ["patient": .bytes(patient.bytes), "grantee": .map(["kind": .string("member"), "id": .bytes(hash.bytes)]),
          "categories": .list([.string("hiv")]), "records": .list([.bytes(record.bytes)]), "purposes": .list([.string("TREAT")]),
          "actions": .list([.string("read"), .string("contribute")]), "endMs": .int(5_000)]),
        (ConsentContract.Grant(patient: patient, grantee: .role(.nurse), purposes: [.research], actions: [.read]),
         "consent", "grant",
         ["patient": .bytes(patient.bytes), "grantee": .map(["kind": .string("role"), "role": .string("nurse")]),
          "purposes": .list([.string("HRESCH")]), "actions": .list([.string("read")])]),
        (ConsentContract.BreakGlass(patient: patient, reason: .lifeThreatening, justificationHash: hash, minutes: 60),
         "consent", "breakGlass",
         ["patient": .bytes(patient.bytes), "reason": .string("life-threatening"), "justificationHash": .bytes(hash.bytes), "minutes": .int(60)]),
        (ClaimsContract.Submit(claim: record, plan: "GOLD", patient: patient, memberID: hash, claimHash: hash, diagnoses: ["J06.9"],
                               items: [ClaimItem(sequence: 1, code: "99213", quantity: 2, unitPriceMinor: 150, serviceMs: 9, record: record)]),
         "claims", "submit",
         ["claim": .bytes(record.bytes), "plan": .string("GOLD"), "patient": .bytes(patient.bytes), "memberID": .bytes(hash.bytes),
          "claimHash": .bytes(hash.bytes),
          "diagnoses": .list([.string("J06.9")]),
          "items": .list([.map(["sequence": .int(1), "code": .string("99213"), "quantity": .int(2), "unitPrice": .int(150),
                                "serviceMs": .int(9), "record": .bytes(record.bytes)])])]),
        (ClaimsContract.RegisterPlan(plan: "GOLD", currency: "USD", deductible: 1, coinsurance: 2, outOfPocketMax: 3,
                                     benefits: [.init(code: "99213", allowed: 15_000, unitsPerPeriod: 12, priorAuth: true)], diagnoses: ["E11"]),
         "claims", "registerPlan",
         ["plan": .string("GOLD"), "currency": .string("USD"), "deductible": .int(1), "coinsurance": .int(2), "outOfPocketMax": .int(3),
          "benefits": .list([.map(["code": .string("99213"), "allowed": .int(15_000), "unitsPerPeriod": .int(12), "priorAuth": .bool(true)])]),
          "diagnoses": .list([.string("E11")])]),
        (SupplyChainContract.Ship(to: hash, units: [SGTIN(gtin: "00312345678906", serial: "S1")], cases: ["000312345000000011"]),
         "supply", "ship",
         ["to": .bytes(hash.bytes), "units": .list([.map(["gtin": .string("00312345678906"), "serial": .string("S1")])]),
          "cases": .list([.string("000312345000000011")])]),
        (SupplyChainContract.Quarantine(units: [SGTIN(gtin: "00312345678906", serial: "S1")], reason: .suspectCounterfeit),
         "supply", "quarantine",
         ["units": .list([.map(["gtin": .string("00312345678906"), "serial": .string("S1")])]), "reason": .string("suspect-counterfeit")]),
        (PrescriptionContract.Issue(medicationRequestHash: hash, patient: patient, gtin: "00312345678906", quantity: 30, refills: 2, expiresMs: 99),
         "rx", "issue",
         ["medicationRequestHash": .bytes(hash.bytes), "patient": .bytes(patient.bytes), "gtin": .string("00312345678906"),
          "quantity": .int(30), "refills": .int(2), "expiresMs": .int(99)]),
        (TelehealthContract.Open(session: hash, patient: patient, consentToRecord: false, keyCommitment: record, startMs: 1_000),
         "telehealth", "open",
         ["session": .bytes(hash.bytes), "patient": .bytes(patient.bytes), "consentToRecord": .bool(false),
          "keyCommitment": .bytes(record.bytes), "startMs": .int(1_000)]),
        (TrialsContract.Register(trial: "NCT-1", protocolHash: hash, consentFormVersion: 1, primaryEndpoints: ["PFS"], secondaryEndpoints: ["OS"],
                                 sites: [record]),
         "trials", "register",
         ["trial": .string("NCT-1"), "protocolHash": .bytes(hash.bytes), "consentFormVersion": .int(1),
          "primaryEndpoints": .list([.string("PFS")]), "secondaryEndpoints": .list([.string("OS")]), "sites": .list([.bytes(record.bytes)])]),
        (TrialsContract.Consent(trial: "NCT-1", patient: patient, consentFormVersion: 2, recruitmentContact: true),
         "trials", "consent",
         ["trial": .string("NCT-1"), "patient": .bytes(patient.bytes), "consentFormVersion": .int(2), "recruitmentContact": .bool(true)]),
    ]

    @Test func typedCallsBuildTheOldArgumentMaps() throws {
        for (call, contract, method, map) in Self.wire {
            #expect(type(of: call).contract == contract)
            #expect(type(of: call).methodName == method)
            #expect(call.args == .map(map), "\(contract).\(method)")
            // Same canonical bytes too (what is signed and logged).
            #expect(call.args.encoded == CanonicalValue.map(map).encoded)
        }
    }

    @Test func typedCallsDecodeBackToThemselves() throws {
        func roundTrip<M: ContractMethod>(_ call: M) throws -> Bool { try M(args: call.args).args == call.args }
        for (call, contract, method, _) in Self.wire {
            let ok = try roundTrip(call)
            #expect(ok, "\(contract).\(method)")
        }
    }

    @Test func everyContractDerivesItsMethodsFromItsEnum() {
        #expect(RecordsContract().methods == ["register", "registerMany", "erase", "releaseLabel"])
        #expect(MembershipContract().selfRegistrationMethods == ["found", "registerPatient"])
        #expect(SupplyChainContract().methods.count == 11)
        #expect(TrialsContract().methods.count == 9)
        #expect(ClaimsContract().name == "claims" && PrescriptionContract().name == "rx" && AuditContract().methods == ["anchor"])
    }

    @Test func malformedArgumentsAreRefusedWithPreciseMessages() {
        func refusal(_ value: CanonicalValue) -> Rejection? {
            do { _ = try RecordsContract.Register(args: value); return nil } catch { return error }
        }
        guard case .map(let good) = RecordsContract.Register(record: Self.record, patient: nil, resourceType: "Observation", category: .general,
                                                             ciphertextHash: Self.hash, version: 1).args else { Issue.record("not a map"); return }
        var extra = good
        extra["patientName"] = .string("x")
        #expect(refusal(.map(extra)) == Rejection(.badArguments, "unknown argument “patientName”"))
        var missing = good
        missing["record"] = nil
        #expect(refusal(.map(missing)) == Rejection(.badArguments, "“record” is required"))
        var short = good
        short["record"] = .bytes([1, 2, 3])
        #expect(refusal(.map(short)) == Rejection(.badArguments, "“record” must be 32 bytes"))
        var wrongType = good
        wrongType["version"] = .string("1")
        #expect(refusal(.map(wrongType)) == Rejection(.badArguments, "“version” must be an integer, not a string"))
        var outOfRange = good
        outOfRange["version"] = .int(0)
        #expect(refusal(.map(outOfRange))?.code == .badArguments)
        var category = good
        category["category"] = .string("gossip")
        #expect(refusal(.map(category))?.code == .unknownCategory)
        var nullPatient = good
        nullPatient["patient"] = .null
        #expect(refusal(.map(nullPatient))?.code == .badArguments)
        #expect(refusal(.list([])) == Rejection(.badArguments, "the value must be a map, not a list"))
        // Nested: the path names the entry.
        let many = CanonicalValue.map(["entries": .list([.map(good), .map(extra)])])
        do { _ = try RecordsContract.RegisterMany(args: many); Issue.record("accepted") } catch {
            #expect(error == Rejection(.badArguments, "unknown argument “entries[1].patientName”"))
        }
        var badEntry = good
        badEntry["resourceType"] = .string("observation")
        do { _ = try RecordsContract.RegisterMany(args: .map(["entries": .list([.map(good), .map(badEntry)])])); Issue.record("accepted") } catch {
            #expect(error.code == .unknownResourceType)
            #expect(error.message.hasPrefix("entries[1]: "))
        }
    }

    /// Decode time of a typical call (records.register), typed decoder against a copy of the old
    /// hand-written `Arguments` reader. Printed, not asserted (debug builds and shared machines vary).
    @Test func decodeMicrobenchmark() throws {
        let args = RecordsContract.Register(record: Self.record, patient: Self.patient, resourceType: "Observation", category: .general,
                                            ciphertextHash: Self.hash, version: 3).args
        let rounds = 20_000
        var sink = 0
        let typedStart = ContinuousClock.now
        for _ in 0..<rounds { sink &+= Int(try RecordsContract.Register(args: args).version) }
        let typed = ContinuousClock.now - typedStart
        let oldStart = ContinuousClock.now
        for _ in 0..<rounds { sink &+= Int(try OldRegister(args).version) }
        let old = ContinuousClock.now - oldStart
        func perCall(_ d: Duration) -> Double { Double(d.components.attoseconds / 1_000_000_000 + d.components.seconds * 1_000_000_000) / Double(rounds) }
        print("records.register args decode: typed \(String(format: "%.0f", perCall(typed))) ns/call, "
              + "old hand-written \(String(format: "%.0f", perCall(old))) ns/call (\(rounds) rounds, sink \(sink % 7))")
    }
}

/// The old hand-written decoding of records.register arguments (`Arguments` before typed calls), for the benchmark.
private struct OldRegister {
    let record: Hash256, patient: Hash256?, resourceType: String, category: SensitivityCategory, ciphertextHash: Hash256, version: Int64
    let agent: Hash256?

    init(_ value: CanonicalValue) throws(Rejection) {
        guard let map = value.mapValue else { throw Rejection(.badArguments, "arguments must be a map") }
        let allowed: Set<String> = ["record", "patient", "resourceType", "category", "ciphertextHash", "version", "agent"]
        if let extra = map.keys.filter({ !allowed.contains($0) }).sorted().first { throw Rejection(.badArguments, "unknown argument “\(extra)”") }
        func hash(_ key: String) throws(Rejection) -> Hash256 {
            guard let b = map[key]?.bytesValue, b.count == 32 else { throw Rejection(.badArguments, "“\(key)” must be 32 bytes") }
            return Hash256(bytes: b)!
        }
        func string(_ key: String, _ maxBytes: Int) throws(Rejection) -> String {
            guard let s = map[key]?.stringValue, !s.isEmpty, s.utf8.count <= maxBytes else { throw Rejection(.badArguments, "“\(key)”") }
            return s
        }
        record = try hash("record")
        patient = map["patient"] == nil ? nil : try hash("patient")
        resourceType = try string("resourceType", 64)
        guard RecordsContract.isResourceTypeName(resourceType) else { throw Rejection(.unknownResourceType, resourceType) }
        let name = try string("category", 32)
        guard let category = SensitivityCategory(rawValue: name) else { throw Rejection(.unknownCategory, name) }
        self.category = category
        guard let version = map["version"]?.intValue, (1...RecordsContract.versionMax).contains(version) else {
            throw Rejection(.badArguments, "“version”")
        }
        self.version = version
        ciphertextHash = try hash("ciphertextHash")
        agent = map["agent"] == nil ? nil : try hash("agent")
    }
}
