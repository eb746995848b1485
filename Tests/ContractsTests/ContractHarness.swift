import Contracts
import LedgerCore

/// An in-memory chain for contract tests: executes blocks with the standard executor.
struct Harness {
    static let chainId = "contracts-test"
    let executor = BlockExecutor.standard(chainId: Harness.chainId)
    var state = MemoryState()
    var height: UInt64 = 0
    var sequences: [IdentityID: UInt64] = [:]
    /// Every executed block: (height, time, transactions), for replay.
    var history: [(height: UInt64, timeMs: Int64, transactions: [VerifiedTransaction])] = []
    /// State root chained over every executed block.
    var stateRoot = Hash256.zero
    /// Block time of height 0, and how far each block moves the clock.
    var timeBaseMs: Int64 = 1_000
    var msPerBlock: Int64 = 1
    /// The time the next block will carry.
    var nextTimeMs: Int64 { timeBaseMs + Int64(height) * msPerBlock }

    static func keys(_ n: UInt8) -> IdentityKeys { IdentityKeys(seed: Array(repeating: n, count: 32)) }
    static let hospital = keys(1), clinic = keys(2), orderer = keys(3), doctor = keys(4), patient = keys(5), stranger = keys(6)

    /// Genesis with a hospital and a clinic; the doctor enrolled by the hospital; a patient.
    static func standard() -> Harness {
        var h = Harness()
        let found = [(hospital, "hospital"), (clinic, "clinic")].map { keys, type in
            h.sign(keys, "membership", "found", ["label": .string(type), "organizationType": .string(type),
                                                 "agreementKey": .bytes(keys.agreementPublicKey), "orderers": .list([.bytes(orderer.signingPublicKey.rawValue)])])
        }
        precondition(h.run(found).allSatisfy(\.isAccepted))
        precondition(h.run([h.enroll(doctor, by: hospital, roles: ["clinician"])])[0].isAccepted)
        precondition(h.run([h.sign(patient, "membership", "registerPatient", ["agreementKey": .bytes(patient.agreementPublicKey)])])[0].isAccepted)
        return h
    }

    mutating func sign(_ keys: IdentityKeys, _ contract: String, _ method: String, _ args: [String: CanonicalValue],
                       sender: IdentityID? = nil, sequence: UInt64? = nil, chainId: String = Harness.chainId, expiry: UInt64? = nil) -> VerifiedTransaction {
        let sender = sender ?? keys.derivedID
        let seq = sequence ?? (sequences[sender] ?? 0) + 1
        if sequence == nil { sequences[sender] = seq }
        let tx = Transaction.sign(TransactionBody(chainId: chainId, sender: sender, publicKey: keys.signingPublicKey, sequence: seq,
                                                  contract: contract, method: method, args: .map(args), expiryHeight: expiry), with: keys)
        return try! VerifiedTransaction.verify(tx)
    }

    mutating func enroll(_ member: IdentityKeys, by org: IdentityKeys, roles: [String], kind: String = "member") -> VerifiedTransaction {
        sign(org, "membership", "enroll", ["kind": .string(kind), "label": .string("m"), "roles": .list(roles.map { .string($0) }),
                                           "signingKey": .bytes(member.signingPublicKey.rawValue), "agreementKey": .bytes(member.agreementPublicKey)])
    }

    mutating func anchor(_ keys: IdentityKeys, _ label: String) -> VerifiedTransaction {
        sign(keys, "anchor", "put", ["digest": .bytes(Hash256.sha256(Array(label.utf8)).bytes), "kind": .string("doc")])
    }

    /// Executes one block and applies it.
    @discardableResult
    mutating func run(_ txs: [VerifiedTransaction]) -> [TransactionResult] {
        let timeMs = nextTimeMs
        let execution = executor.execute(height: height, timeMs: timeMs, transactions: txs, state: state)
        state.apply(execution.writeSet)
        history.append((height, timeMs, txs))
        stateRoot = execution.writeSet.stateRoot(after: stateRoot)
        height += 1
        return execution.results
    }
}
