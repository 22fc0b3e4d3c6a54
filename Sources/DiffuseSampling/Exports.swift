@_exported import DiffuseCore
