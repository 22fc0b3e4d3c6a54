import Diffuse
print("diffuse: not built yet")
