import Contracts
import LedgerCore

/// The first rounds of every run build the consortium: organizations, staff, two patients, a
/// plan, a product and a trial. They run without faults and must all be accepted.
extension World {
    static let bootstrapRounds = 3

    func bootstrap(round: Int) -> [Op] {
        func admit(_ keys: IdentityKeys, _ type: OrganizationType) -> Op {
            Op(signer: Cast.hospital, contract: "membership", method: "admitOrganization", args: [
                "label": .string(type.rawValue), "organizationType": .string(type.rawValue),
                "signingKey": .bytes(keys.signingPublicKey.rawValue), "agreementKey": .bytes(keys.agreementPublicKey)])
        }
        switch round {
        case 0:
            return [admit(Cast.payer, .payer), admit(Cast.manufacturer, .manufacturer), admit(Cast.pharmacy, .pharmacy),
                    admit(Cast.sponsor, .sponsor)]
        case 1:
            return [
                Self.enroll(Cast.doctor, by: Cast.hospital, roles: ["clinician"]), Self.enroll(Cast.nurse, by: Cast.hospital, roles: ["nurse"]),
                Self.enroll(Cast.billing, by: Cast.hospital, roles: ["integration"]),
                Self.enroll(Cast.erDoctor, by: Cast.hospital, roles: ["clinician", "emergency-clinician"]),
                Self.enroll(Cast.clinicDoctor, by: Cast.clinic, roles: ["clinician"]),
                Self.enroll(Cast.agent, by: Cast.payer, roles: ["payer-agent"]),
                Self.enroll(Cast.pharmacist, by: Cast.pharmacy, roles: ["pharmacist"]),
                Self.enroll(Cast.researcher, by: Cast.sponsor, roles: ["researcher"]),
                registerPatient(Cast.patients[0]), registerPatient(Cast.patients[1]),
            ]
        default:
            return [registerPlan(), registerProduct(Cast.gtins[0]), registerTrial(),
                    Op(signer: Cast.clinic, contract: "anchor", method: "put", args: [
                        "digest": .bytes(Hash256.sha256(Array("sim genesis anchor".utf8)).bytes), "kind": .string("doc")])]
        }
    }

    static func enroll(_ member: IdentityKeys, by organization: IdentityKeys, roles: [String]) -> Op {
        Op(signer: organization, contract: "membership", method: "enroll", args: [
            "kind": .string("member"), "label": .string("staff"), "roles": .list(roles.map { .string($0) }),
            "signingKey": .bytes(member.signingPublicKey.rawValue), "agreementKey": .bytes(member.agreementPublicKey)])
    }

    func registerPatient(_ keys: IdentityKeys) -> Op {
        Op(signer: keys, contract: "membership", method: "registerPatient", args: ["agreementKey": .bytes(keys.agreementPublicKey)]) { world, _ in
            if !world.patients.contains(where: { $0.derivedID == keys.derivedID }) { world.patients.append(keys) }
        }
    }

    func registerPlan() -> Op {
        let benefit: CanonicalValue = .map(["code": .string("99213"), "allowed": .int(15_000), "priorAuth": .bool(false)])
        return Op(signer: Cast.agent, contract: "claims", method: "registerPlan", args: [
            "plan": .string(Cast.plan), "currency": .string("USD"), "deductible": .int(10_000), "coinsurance": .int(2_000),
            "outOfPocketMax": .int(100_000), "benefits": .list([benefit]), "diagnoses": .list([])]) { world, _ in world.planRegistered = true }
    }

    func registerProduct(_ gtin: String) -> Op {
        Op(signer: Cast.manufacturer, contract: "supply", method: "registerProduct", args: ["gtin": .string(gtin), "label": .string("sim product")]) {
            world, _ in if !world.products.contains(gtin) { world.products.append(gtin) }
        }
    }

    func registerTrial() -> Op {
        Op(signer: Cast.researcher, contract: "trials", method: "register", args: [
            "trial": .string(Cast.trial), "protocolHash": .bytes(Hash256.sha256(Array("protocol \(Cast.trial)".utf8)).bytes),
            "consentFormVersion": .int(1), "primaryEndpoints": .list([.string("PFS")]), "secondaryEndpoints": .list([.string("OS")]),
            "sites": .list([.bytes(Cast.hospital.derivedID.bytes), .bytes(Cast.clinic.derivedID.bytes)])]) { world, _ in world.trialRegistered = true }
    }
}
