"""The polling safety net (`on.image.poll`): tags listed, pushes no webhook reported
turned into events. Between the parts it uses (events, registry, store, workflows) and
the engine that starts it."""
