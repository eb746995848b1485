import Contracts
import LedgerCore

/// Who is in the simulated consortium. Keys are fixed: the seed decides what everyone does, not
/// who they are.
enum Cast {
    static func keys(_ n: UInt8) -> IdentityKeys { IdentityKeys(seed: Array(repeating: n, count: 32)) }

    static let orderer = keys(1)
    // Founders (genesis), then organizations the hospital admits.
    static let hospital = keys(2), clinic = keys(3)
    static let payer = keys(4), manufacturer = keys(5), pharmacy = keys(6), sponsor = keys(7)
    // Staff.
    static let doctor = keys(10), nurse = keys(11), billing = keys(12), clinicDoctor = keys(13), agent = keys(14)
    static let pharmacist = keys(15), researcher = keys(16), erDoctor = keys(17)
    /// Patients, registered over time.
    static let patients = (0..<8).map { keys(UInt8(40 + $0)) }
    /// Clinicians enrolled over time, alternately at the hospital and the clinic.
    static let clinicians = (0..<4).map { keys(UInt8(60 + $0)) }

    static let organizations: [IdentityKeys] = [hospital, clinic, payer, manufacturer, pharmacy, sponsor]
    static let staff: [IdentityKeys] = [doctor, nurse, billing, clinicDoctor, agent, pharmacist, researcher, erDoctor]
    /// Product codes with valid GS1 check digits.
    static let gtins = ["00312345678906", "00312345678913", "00312345678920"]
    static let trial = "SIM-TRIAL-1"
    static let plan = "SIM-GOLD"
    static let dayMs: Int64 = 86_400_000
}

/// The SplitMix64 draws the simulator makes; one place, so a seed replays the same run.
extension SplitMix64 {
    /// A number in 0..<bound.
    mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0, "empty range")
        return Int(next() % UInt64(bound))
    }

    /// A number in the closed range.
    mutating func within(_ range: ClosedRange<Int>) -> Int { range.lowerBound + below(range.count) }

    /// True with `percent` % probability.
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }

    /// One element (never of an empty array).
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}

/// One call the simulator submits, and what it means to the world model once committed accepted.
struct Op {
    let signer: IdentityKeys
    let contract: String
    let method: String
    let args: CanonicalMap
    /// Applied to the model when the transaction commits accepted; gets the transaction id.
    var effect: (inout World, Hash256) -> Void = { _, _ in }

    var label: String { "\(contract).\(method)" }
}

/// A record version the simulator writes through the access service before registering it.
struct RecordWrite {
    let author: IdentityKeys
    let custodian: IdentityKeys
    let record: Hash256
    let version: UInt64
    let patient: IdentityKeys
    let content: [UInt8]
}

/// A record version by its coordinates.
struct RecordVersionKey: Hashable {
    let record: Hash256
    let version: UInt64
}

/// What the simulator believes the ledger holds, updated only from committed results. Ops are
/// drawn from it so most are valid; the ones that are not are refused or rejected, which is
/// fine (refusals are part of the test) as long as the node agrees with replay.
struct World {
    struct RecordModel {
        let id: Hash256
        let patient: IdentityKeys
        let custodian: IdentityKeys
        let author: IdentityKeys
        var version: UInt64
        var erased = false
    }

    struct Unit: Equatable {
        let gtin: String
        let serial: String
        var arg: CanonicalValue { .map(["gtin": .string(gtin), "serial": .string(serial)]) }
    }

    var patients: [IdentityKeys] = []
    var clinicians: [(keys: IdentityKeys, organization: IdentityKeys)] = []
    var records: [RecordModel] = []
    /// Plaintext of every version stored in the vault (registered or not).
    var contents: [RecordVersionKey: [UInt8]] = [:]
    var consents: [(id: Hash256, patient: IdentityKeys)] = []
    var planRegistered = false
    var covered: [IdentityID] = []
    var claims: [Hash256] = []
    var products: [String] = []
    var atManufacturer: [Unit] = []
    var inTransit: [Unit] = []
    var atPharmacy: [Unit] = []
    var prescriptions: [(id: Hash256, gtin: String)] = []
    var trialRegistered = false
    var trialConsented: [IdentityKeys] = []
    var trialEnrolled: [IdentityKeys] = []
    var sessions: [(id: Hash256, patient: IdentityKeys, clinician: IdentityKeys, startMs: Int64, joined: Bool)] = []
    /// Makes names unique within a run.
    var counter = 0

    mutating func unique(_ prefix: String) -> String {
        counter += 1
        return "\(prefix)-\(counter)"
    }

    /// Everyone who may ask to read records.
    var requesters: [IdentityKeys] { Cast.staff + patients + clinicians.map(\.keys) }

    // MARK: random operations

    /// The kinds of random operation, each with a weight.
    enum Kind: CaseIterable {
        case anchor, registerPatient, enrollClinician, recordWrite, recordErase, consentGrant, consentRevoke, breakGlass
        case auditAnchor, claimsEnroll, claimsSubmit, claimsPay, supplyProduct, supplyCommission, supplyShip, supplyReceive
        case supplyVerify, rxIssue, rxFill, rxCancel, trialCriteria, trialConsent, trialEnroll, trialData
        case telehealthOpen, telehealthJoin, telehealthEnd

        var weight: Int {
            switch self {
            case .recordWrite: 12
            case .consentGrant: 6
            case .anchor, .consentRevoke, .auditAnchor, .claimsSubmit, .supplyCommission, .supplyShip, .supplyReceive, .rxIssue, .rxFill: 3
            case .telehealthOpen, .telehealthJoin, .telehealthEnd, .trialConsent, .trialEnroll, .trialData, .claimsEnroll: 3
            default: 2
            }
        }

        static func draw(_ rng: inout SplitMix64) -> Kind {
            var ticket = rng.below(allCases.reduce(0) { $0 + $1.weight })
            for kind in allCases {
                if ticket < kind.weight { return kind }
                ticket -= kind.weight
            }
            preconditionFailure("weights add up")
        }
    }

    /// A random op of `kind` drawn from the model, or nil when the model has nothing for it yet.
    /// `recordWrite` and `auditAnchor` need the access service and are built by the simulator.
    mutating func op(_ kind: Kind, rng: inout SplitMix64, nowMs: Int64) -> Op? {
        switch kind {
        case .recordWrite, .auditAnchor: return nil
        case .anchor:
            let signer = rng.pick(Cast.organizations + Cast.staff)
            let label = unique("anchor")
            return Op(signer: signer, contract: "anchor", method: "put", args: [
                "digest": .bytes(Hash256.sha256(Array(label.utf8)).bytes), "kind": .string("doc")])
        case .registerPatient:
            guard let next = Cast.patients.first(where: { p in !patients.contains { $0.derivedID == p.derivedID } }) else { return nil }
            return registerPatient(next)
        case .enrollClinician:
            guard let next = Cast.clinicians.first(where: { c in !clinicians.contains { $0.keys.derivedID == c.derivedID } }) else { return nil }
            let organization = clinicians.count % 2 == 0 ? Cast.hospital : Cast.clinic
            var op = Self.enroll(next, by: organization, roles: ["clinician"])
            op.effect = { world, _ in world.clinicians.append((next, organization)) }
            return op
        case .recordErase:
            let live = records.filter { !$0.erased }
            guard !live.isEmpty else { return nil }
            let record = rng.pick(live)
            return Op(signer: record.patient, contract: "records", method: "erase", args: ["record": .bytes(record.id.bytes)]) { world, _ in
                if let index = world.records.firstIndex(where: { $0.id == record.id }) { world.records[index].erased = true }
            }
        case .consentGrant:
            guard !patients.isEmpty else { return nil }
            let patient = rng.pick(patients)
            let grantees: [(CanonicalValue, String)] = [
                (.map(["kind": .string("member"), "id": .bytes(Cast.clinicDoctor.derivedID.bytes)]), "TREAT"),
                (.map(["kind": .string("organization"), "id": .bytes(Cast.clinic.derivedID.bytes)]), "TREAT"),
                (.map(["kind": .string("role"), "role": .string("clinician")]), "TREAT"),
                (.map(["kind": .string("member"), "id": .bytes(Cast.researcher.derivedID.bytes)]), "HRESCH"),
                (.map(["kind": .string("member"), "id": .bytes(Cast.agent.derivedID.bytes)]), "HPAYMT"),
            ]
            let (grantee, purpose) = rng.pick(grantees)
            var args: CanonicalMap = [
                "patient": .bytes(patient.derivedID.bytes), "grantee": grantee,
                "purposes": .list([.string(purpose)]), "actions": .list([.string("read")]),
            ]
            // Some consents end soon, so clock jumps expire them.
            if rng.chance(40) { args["endMs"] = .int(nowMs + Int64(rng.within(1...72)) * 3_600_000) }
            return Op(signer: patient, contract: "consent", method: "grant", args: args) { world, id in world.consents.append((id, patient)) }
        case .consentRevoke:
            guard !consents.isEmpty else { return nil }
            let consent = rng.pick(consents)
            return Op(signer: consent.patient, contract: "consent", method: "revoke", args: [
                "patient": .bytes(consent.patient.derivedID.bytes), "consent": .bytes(consent.id.bytes)]) { world, _ in
                world.consents.removeAll { $0.id == consent.id }
            }
        case .breakGlass:
            guard !patients.isEmpty else { return nil }
            let patient = rng.pick(patients)
            var args: CanonicalMap = [
                "patient": .bytes(patient.derivedID.bytes), "reason": .string("unconscious"),
                "justificationHash": .bytes(Hash256.sha256(Array(unique("justification").utf8)).bytes), "minutes": .int(Int64(rng.within(1...120))),
            ]
            if let record = records.first(where: { $0.patient.derivedID == patient.derivedID && !$0.erased }), rng.chance(50) {
                args["record"] = .bytes(record.id.bytes)
            }
            return Op(signer: Cast.erDoctor, contract: "consent", method: "breakGlass", args: args)
        case .claimsEnroll:
            guard planRegistered, let patient = patients.first(where: { !covered.contains($0.derivedID) }) else { return nil }
            return Op(signer: Cast.agent, contract: "claims", method: "enroll", args: [
                "plan": .string(Cast.plan), "member": .bytes(ClaimsContract.memberKey(patient: patient.derivedID, memberID: Self.memberID(patient.derivedID)).bytes),
                "startMs": .int(nowMs - Cast.dayMs), "endMs": .int(nowMs + 365 * Cast.dayMs)]) { world, _ in world.covered.append(patient.derivedID) }
        case .claimsSubmit:
            guard planRegistered, !covered.isEmpty else { return nil }
            let patient = rng.pick(covered)
            let documented = records.first { $0.patient.derivedID == patient && $0.custodian.derivedID == Cast.hospital.derivedID }
            let name = unique("claim")
            let claim = Hash256.sha256(Array(name.utf8))
            let item: CanonicalValue = .map([
                "sequence": .int(1), "code": .string("99213"), "quantity": .int(1), "unitPrice": .int(Int64(rng.within(50...300)) * 100),
                "serviceMs": .int(nowMs - Cast.dayMs), "record": .bytes((documented?.id ?? Hash256.sha256(Array("phantom \(name)".utf8))).bytes)])
            return Op(signer: Cast.billing, contract: "claims", method: "submit", args: [
                "claim": .bytes(claim.bytes), "plan": .string(Cast.plan), "patient": .bytes(patient.bytes), "memberID": .bytes(Self.memberID(patient).bytes),
                "claimHash": .bytes(Hash256.sha256(Array("fhir \(name)".utf8)).bytes), "diagnoses": .list([.string("J06.9")]),
                "items": .list([item])]) { world, _ in world.claims.append(claim) }
        case .claimsPay:
            guard !claims.isEmpty else { return nil }
            let claim = rng.pick(claims)
            return Op(signer: Cast.agent, contract: "claims", method: "pay", args: [
                "claim": .bytes(claim.bytes), "amount": .int(Int64(rng.within(1...50)) * 100),
                "reference": .bytes(Hash256.sha256(Array(unique("eft").utf8)).bytes)])
        case .supplyProduct:
            guard let gtin = Cast.gtins.first(where: { !products.contains($0) }) else { return nil }
            return registerProduct(gtin)
        case .supplyCommission:
            guard !products.isEmpty else { return nil }
            let gtin = rng.pick(products)
            let lot = unique("L")
            let serials = (0..<rng.within(1...4)).map { _ in unique("S") }
            return Op(signer: Cast.manufacturer, contract: "supply", method: "commission", args: [
                "gtin": .string(gtin), "lot": .string(lot), "expiryMs": .int(nowMs + 365 * Cast.dayMs),
                "serials": .list(serials.map { .string($0) })]) { world, _ in
                world.atManufacturer += serials.map { Unit(gtin: gtin, serial: $0) }
            }
        case .supplyShip:
            guard !atManufacturer.isEmpty else { return nil }
            let units = Array(atManufacturer.prefix(rng.within(1...3)))
            return Op(signer: Cast.manufacturer, contract: "supply", method: "ship", args: [
                "to": .bytes(Cast.pharmacy.derivedID.bytes), "units": .list(units.map(\.arg))]) { world, _ in
                world.atManufacturer.removeAll { units.contains($0) }
                world.inTransit += units
            }
        case .supplyReceive:
            guard !inTransit.isEmpty else { return nil }
            let units = inTransit
            return Op(signer: Cast.pharmacy, contract: "supply", method: "receive", args: [
                "from": .bytes(Cast.manufacturer.derivedID.bytes), "units": .list(units.map(\.arg))]) { world, _ in
                world.inTransit.removeAll { units.contains($0) }
                world.atPharmacy += units
            }
        case .supplyVerify:
            guard !atPharmacy.isEmpty else { return nil }
            let unit = rng.pick(atPharmacy)
            return Op(signer: Cast.pharmacist, contract: "supply", method: "verify", args: ["gtin": .string(unit.gtin), "serial": .string(unit.serial)])
        case .rxIssue:
            guard !patients.isEmpty, !products.isEmpty else { return nil }
            let patient = rng.pick(patients)
            let gtin = rng.pick(products)
            return Op(signer: Cast.doctor, contract: "rx", method: "issue", args: [
                "medicationRequestHash": .bytes(Hash256.sha256(Array(unique("MedicationRequest").utf8)).bytes),
                "patient": .bytes(patient.derivedID.bytes), "gtin": .string(gtin), "quantity": .int(1), "refills": .int(Int64(rng.within(0...2))),
                "expiresMs": .int(nowMs + 30 * Cast.dayMs)]) { world, id in world.prescriptions.append((id, gtin)) }
        case .rxFill:
            guard let prescription = prescriptions.first(where: { p in atPharmacy.contains { $0.gtin == p.gtin } }),
                  let unit = atPharmacy.first(where: { $0.gtin == prescription.gtin }) else { return nil }
            return Op(signer: Cast.pharmacy, contract: "rx", method: "fill", args: [
                "prescription": .bytes(prescription.id.bytes), "units": .list([unit.arg])]) { world, _ in world.atPharmacy.removeAll { $0 == unit } }
        case .rxCancel:
            guard !prescriptions.isEmpty else { return nil }
            let prescription = rng.pick(prescriptions)
            return Op(signer: Cast.doctor, contract: "rx", method: "cancel", args: ["prescription": .bytes(prescription.id.bytes)]) { world, _ in
                world.prescriptions.removeAll { $0.id == prescription.id }
            }
        case .trialCriteria:
            guard trialRegistered else { return nil }
            return Op(signer: Cast.researcher, contract: "trials", method: "publishCriteria", args: [
                "trial": .string(Cast.trial), "criteriaHash": .bytes(Hash256.sha256(Array(unique("criteria").utf8)).bytes),
                "criteria": .list([.string("age>=18")])])
        case .trialConsent:
            guard trialRegistered, let patient = patients.first(where: { p in !trialConsented.contains { $0.derivedID == p.derivedID } }) else { return nil }
            return Op(signer: patient, contract: "trials", method: "consent", args: [
                "trial": .string(Cast.trial), "patient": .bytes(patient.derivedID.bytes), "consentFormVersion": .int(1)]) { world, _ in
                world.trialConsented.append(patient)
            }
        case .trialEnroll:
            guard let patient = trialConsented.first(where: { p in !trialEnrolled.contains { $0.derivedID == p.derivedID } }) else { return nil }
            return Op(signer: Cast.doctor, contract: "trials", method: "enroll", args: [
                "trial": .string(Cast.trial), "patient": .bytes(patient.derivedID.bytes)]) { world, _ in world.trialEnrolled.append(patient) }
        case .trialData:
            guard !trialEnrolled.isEmpty else { return nil }
            let patient = rng.pick(trialEnrolled)
            return Op(signer: Cast.doctor, contract: "trials", method: "submitData", args: [
                "trial": .string(Cast.trial), "participant": .bytes(patient.derivedID.bytes),
                "crfHashes": .list([.bytes(Hash256.sha256(Array(unique("crf").utf8)).bytes)]), "endpoint": .string("PFS")])
        case .telehealthOpen:
            guard !patients.isEmpty else { return nil }
            let patient = rng.pick(patients)
            let clinician = rng.pick([Cast.doctor, Cast.clinicDoctor])
            let session = Hash256.sha256(Array(unique("session").utf8))
            return Op(signer: clinician, contract: "telehealth", method: "open", args: [
                "session": .bytes(session.bytes), "patient": .bytes(patient.derivedID.bytes), "consentToRecord": .bool(true),
                "keyCommitment": .bytes(Hash256.sha256(session.bytes + [0x4B]).bytes), "startMs": .int(nowMs)]) { world, _ in
                world.sessions.append((session, patient, clinician, nowMs, false))
            }
        case .telehealthJoin:
            guard let session = sessions.first(where: { !$0.joined }) else { return nil }
            return Op(signer: session.patient, contract: "telehealth", method: "join", args: ["session": .bytes(session.id.bytes)]) { world, _ in
                if let index = world.sessions.firstIndex(where: { $0.id == session.id }) { world.sessions[index].joined = true }
            }
        case .telehealthEnd:
            guard let session = sessions.first(where: { $0.joined }) else { return nil }
            return Op(signer: session.clinician, contract: "telehealth", method: "end", args: [
                "session": .bytes(session.id.bytes), "transcriptHash": .bytes(Hash256.sha256(session.id.bytes).bytes),
                "messageCount": .int(Int64(rng.within(1...40))), "endMs": .int(max(nowMs, session.startMs + 1))]) { world, _ in
                world.sessions.removeAll { $0.id == session.id }
            }
        }
    }

    /// A new record, or a new version of one its author wrote; nil before anyone can write.
    mutating func recordWrite(rng: inout SplitMix64) -> RecordWrite? {
        guard !patients.isEmpty else { return nil }
        let live = records.filter { !$0.erased }
        let label = unique("observation")
        let content = Array(#"{"resourceType":"Observation","status":"final","valueString":"\#(label) \#(rng.below(1_000))"}"#.utf8)
        if !live.isEmpty, rng.chance(30) {
            let record = rng.pick(live)
            return RecordWrite(author: record.author, custodian: record.custodian, record: record.id, version: record.version + 1,
                               patient: record.patient, content: content)
        }
        let (author, custodian) = rng.pick([(Cast.doctor, Cast.hospital), (Cast.clinicDoctor, Cast.clinic)])
        return RecordWrite(author: author, custodian: custodian, record: Hash256.sha256(Array("record \(label)".utf8)), version: 1,
                           patient: rng.pick(patients), content: content)
    }

    /// The registration of a stored record version.
    static func register(_ write: RecordWrite, ciphertextHash: Hash256) -> Op {
        Op(signer: write.author, contract: "records", method: "register", args: [
            "record": .bytes(write.record.bytes), "patient": .bytes(write.patient.derivedID.bytes), "resourceType": .string("Observation"),
            "category": .string("general"), "ciphertextHash": .bytes(ciphertextHash.bytes), "version": .int(Int64(write.version))]) { world, _ in
            if let index = world.records.firstIndex(where: { $0.id == write.record }) {
                world.records[index].version = max(world.records[index].version, write.version)
            } else {
                world.records.append(RecordModel(id: write.record, patient: write.patient, custodian: write.custodian, author: write.author,
                                                 version: write.version))
            }
        }
    }
}

extension World {
    /// The member id the simulated payer issues a patient.
    static func memberID(_ patient: IdentityID) -> Hash256 { Hash256.sha256(Array("simulated member id".utf8) + patient.bytes) }
}
