// ThudModel: the runtime model of Thud — frames in, envelope and hits out. No I/O beyond reading a model file.
//
//   let model = try StreamingModel(path: "models/default.thud")   // ModelFileError (exitCode 20) on a bad file
//   let picker = PeakPicker(configuration: .init(minStrength: threshold))
//   // per 12 Hz frame (gray8, model.inputWidth × model.inputHeight, from ThudMedia):
//   let envelope = model.step(frame: pixels)                       // allocates nothing
//   if let hit = picker.process(envelope) { ... }                  // the hit's peak was the previous step
//   // end of stream: picker.finish(); new stream: model.reset(), picker.reset()
//
// Pieces: FrameEncoder (ConvEncoder, MotionEnergyEncoder) → StackedLSTM → DenseHead, all on preallocated
// FloatBuffers through the Kernels (OpenBLAS, one thread). ModelFile reads/writes .thud files; ModelArchitecture
// lists the parameter tensors (PyTorch state_dict names) and makes seeded random ones for training to start from.
// tools/reference/ holds the PyTorch twin that the tests agree with to 1e-5.
