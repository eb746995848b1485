// The supply chain's reason enums parse as options directly, so `--help` lists their values and
// ArgumentParser rejects any other. (A conformance of a public type is public, hence the import.)
public import ArgumentParser
public import Contracts

extension RecallReason: ExpressibleByArgument {}
extension QuarantineReason: ExpressibleByArgument {}
extension DecommissionReason: ExpressibleByArgument {}
