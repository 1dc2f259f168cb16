import XCTest

final class ThudSynthTestsPlaceholder: XCTestCase {}
