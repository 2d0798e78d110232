"""Who a person is: local user names and sign-in through an OpenID Connect provider."""
