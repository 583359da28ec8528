"""Small widgets that know nothing about models, so that several panels can share them: the class legend,
the pin strip, the plane controls."""
